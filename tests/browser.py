"""Headless Chromium for the page tests (Debian's chromium and chromium-driver, driven by Selenium).

Without chromium the browser tests skip on a developer's machine, and fail under CI (CI=true), where
``tools/run.sh`` installs it: a browser test that silently skipped in CI would hide a broken page.
"""
import os
import shutil
import tempfile

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")


def chromium():
    """A Selenium driver for headless Chromium with a fresh profile; the caller quits it."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        message = "Debian's chromium and chromium-driver are not installed (tools/run.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='graphcore-chromium-')}")
    options.binary_location = browser
    return webdriver.Chrome(service=Service(driver), options=options)


def open_page(driver, path, timeout=30):
    """Load a page file and wait until it has laid itself out; returns the status line."""
    import time
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, error = driver.execute_script("return [window.gcReady || false, window.gcError || null]")
        if error:
            raise AssertionError(f"the page could not lay itself out: {error}")
        if ready:
            return driver.find_element("id", "gc-status").text
        time.sleep(0.1)
    raise AssertionError(f"the page was not ready after {timeout} s")
