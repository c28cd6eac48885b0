"""The interactive diagram page: one self-contained HTML file (no network at view time) that lays itself out
with the vendored graphviz WebAssembly build, opens and closes blocks in place, shows tooltips, searches,
switches views and follows tensors. The browser tests drive Debian's headless Chromium (tests/browser.py)
and save screenshots; GRAPHCORE_SCREENSHOTS=docs/screenshots keeps them (the ones docs/diagrams.md shows)."""
import hashlib
import json
import os
import pathlib
import re
import shutil
import time

import pytest

import graphcore.models as zoo
from graphcore import export
from graphcore.diagram import load, page, render, views

from browser import chromium, open_page

VENDORED_SHA256 = "550d9cd6ff429f5bd225316fe1faed4f852038c3e1ec609ce113af1f9379ce25"


def _data(text):
    return json.loads(re.search(r'<script type="application/json" id="gc-data">(.*?)</script>', text, re.S)
                      .group(1))


def test_the_vendored_graphviz_is_the_npm_release_it_names():
    vendored = pathlib.Path(page.__file__).parent / "vendor" / "graphviz-wasm.js"
    assert hashlib.sha256(vendored.read_bytes()).hexdigest() == VENDORED_SHA256


def test_the_page_is_one_file_that_fetches_nothing(tmp_path):
    path = tmp_path / "net.html"
    render(zoo.lenet5(), path)
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)[^>]*\b(src|href)=", text)     # nothing loaded from outside
    assert "sourceMappingURL" not in text
    data = _data(text)
    assert set(data["views"]) == {"layer", "op", "grad"} and data["view"] == "layer"
    assert data["name"] == "lenet5" and len(data["ops"]) == len(load(zoo.lenet5()).ops)


def test_the_page_opens_on_the_static_picture_at_that_depth():
    graph = load(zoo.resnet18())
    for depth in (0, 1, 2):
        static = views.build(graph, "layer", depth)
        data = _data(page.page_html(graph, depth=depth))["views"]["layer"]
        opened = {c["id"] for c in _clusters(data["tree"]) if c["open"]}
        visible = set()
        for chain in data["owner"].values():
            closed = next((chain[k + 1] for k in range(0, len(chain) - 1, 2) if chain[k] not in opened), None)
            if closed or isinstance(chain[-1], str):
                visible.add(closed or chain[-1])
        assert len(visible) == static.size, depth        # the same boxes as render(model, depth=depth)


def _clusters(items):
    for item in items:
        if "id" in item:
            yield item
            yield from _clusters(item["children"])


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def _keep(screenshot, name):
    keep = os.environ.get("GRAPHCORE_SCREENSHOTS")
    if keep:
        pathlib.Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, pathlib.Path(keep) / name)


def _wait(driver, condition, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(condition)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {condition}")


def _titles(driver):
    """The bold first line of every drawn box."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#gc-canvas g.node')].map(g => g.querySelector('text')?.textContent)")


def _search(driver, text):
    from selenium.webdriver.common.by import By
    box = driver.find_element(By.ID, "gc-search")
    box.clear()
    box.send_keys(text)
    _wait(driver, "return document.querySelectorAll('#gc-results li').length")
    driver.find_element(By.CSS_SELECTOR, "#gc-results li").click()
    return _wait(driver, "return gc.state.found && document.getElementById(gc.state.found)"
                         "?.classList.contains('found') && gc.state.found")


def test_resnet18_page_opens_a_block_shows_its_skip_searches_and_follows(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    path = tmp_path / "resnet18.html"
    render(zoo.resnet18(), path)
    status = open_page(browser, path)
    assert "boxes · laid out in" in status
    before = _titles(browser)
    assert "a_conv … b_bn" in before and "shortcut_conv" not in before      # stage3's block1 is closed
    # open stage3/block1 by double-clicking its (closed) branch box
    cid = browser.execute_script("""const idx = gc.index.layer;
        return Object.values(idx.clusters).find(c => c.label.startsWith('block1') && idx.parent[c.id]
            && idx.clusters[idx.parent[c.id]].label.startsWith('stage3')).id""")
    branch = browser.execute_script("return gc.index.layer.clusters[arguments[0]].closed[0]", cid)
    ActionChains(browser).double_click(browser.find_element(By.ID, branch)).perform()
    _wait(browser, f"return gc.index.layer.open.has('{cid}') && !document.getElementById('{branch}')")
    after = _titles(browser)
    for inner in ("a_conv", "a_bn", "a_relu", "b_conv", "b_bn", "shortcut_conv", "shortcut_bn", "add", "out"):
        assert after.count(inner) >= 1, inner
    # the skip edges: the open block's projection shortcut into its add, and every closed block's ⊕
    skips = browser.execute_script("""return gc.state.drawn.filter(e => e.kind === 'skip')
        .map(e => [gc.data.views.layer.nodes[e.src].title, gc.data.views.layer.nodes[e.dst].title,
                   document.getElementById(e.id).querySelector('path').getAttribute('stroke')])""")
    assert ["shortcut_bn", "add", "#1c7ed6"] in skips and len(skips) == 7
    # hover: op, shapes, dtype, parameters and creation site
    conv = browser.execute_script("""return [...document.querySelectorAll('#gc-canvas g.node')]
        .find(g => g.querySelector('text').textContent === 'shortcut_conv').id""")
    ActionChains(browser).move_to_element(browser.find_element(By.ID, conv)).perform()
    tip = _wait(browser, "const t = document.getElementById('gc-tip');"
                         "return t.style.display === 'block' && t.textContent")
    assert "shortcut_conv/Conv2D (Conv2D) → (?, 128, 28, 28) float32" in tip and "8,192 parameters" in tip
    assert "kernel (Variable) → (128, 64, 1, 1) float32" in tip and "created at" in tip
    # search a node inside a closed block: the page opens what holds it and marks it
    found = _search(browser, "stage5/block2/b_conv/Conv2D")
    assert browser.execute_script(f"return gc.data.views.layer.nodes['{found}'].title") == "b_conv"
    # follow a tensor: click a box, then a tensor leaving it; its consumers light up
    browser.find_element(By.ID, found).click()
    browser.find_element(By.CSS_SELECTOR, "#gc-panel ul a").click()
    consumers = _wait(browser, "return [...document.querySelectorAll('g.node.consumer')]"
                               ".map(g => g.querySelector('text').textContent)")
    assert consumers == ["b_bn"]
    assert "read by" in browser.find_element(By.ID, "gc-panel").text
    shot = tmp_path / "resnet18_page.png"
    browser.execute_script(f"document.getElementById('{found}').scrollIntoView({{block: 'center'}})")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    _keep(shot, "resnet18_page.png")
    # the other views lay out too; close the block again
    for view in ("op", "grad"):
        browser.find_element(By.CSS_SELECTOR, f"#gc-views button[data-view={view}]").click()
        _wait(browser, f"return document.body.dataset.state.startsWith('{view}:')")
    browser.find_element(By.CSS_SELECTOR, "#gc-views button[data-view=layer]").click()
    browser.execute_script(f"gc.closeCluster('{cid}')")
    assert "shortcut_conv" not in _titles(browser)


def test_an_exported_training_step_page(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    model = zoo.lenet5()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    step = tmp_path / "step.onnx"
    export.to_onnx(model, str(step), training=True)
    path = tmp_path / "step.html"
    render(step, path)
    open_page(browser, path)
    assert browser.execute_script("return gc.state.view") == "grad"
    titles = _titles(browser)
    assert "loss" in titles and "∇ loss" in titles and "update c1/kernel" in " ".join(titles)
    heading = browser.find_element(By.CSS_SELECTOR, "#gc-canvas svg g.graph > text").text
    assert "61,706 parameters" in heading
    # close the backward pass's c3 cluster by double-clicking its frame, then open it again from its box
    cid = browser.execute_script("""const idx = gc.index.grad; return Object.values(idx.clusters).find(c =>
        c.label === 'c3' && idx.parent[c.id] && idx.clusters[idx.parent[c.id]].label.startsWith('gradients')).id""")
    count = len(titles)
    label = browser.find_element(By.CSS_SELECTOR, f"g#cluster_{cid} > text")
    ActionChains(browser).double_click(label).perform()
    _wait(browser, f"return !gc.index.grad.open.has('{cid}')")
    closed = _titles(browser)
    assert "∇ c3" in closed and len(closed) < count
    box = browser.execute_script(f"return gc.index.grad.clusters['{cid}'].closed[0]")
    ActionChains(browser).double_click(browser.find_element(By.ID, box)).perform()
    _wait(browser, f"return gc.index.grad.open.has('{cid}')")
    assert len(_titles(browser)) == count
    found = _search(browser, "c5/kernel")
    assert "c5" in browser.execute_script(f"return gc.data.views.grad.nodes['{found}'].tip")
    shot = tmp_path / "step_page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    _keep(shot, "training_step_page.png")
