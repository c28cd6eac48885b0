"""Progress bars: tqdm's notebook widget in a Jupyter kernel that has ipywidgets, its plain-text bar
everywhere else.

``tqdm.auto`` picks the widget whenever it runs in a notebook and, when ipywidgets is missing, warns
("IProgress not found") on the first ``fit`` before falling back; here the choice is made up front, so a
notebook without ipywidgets gets the text bar and no warning.
"""
import importlib.util
import sys


def in_notebook():
    """Whether this runs in a Jupyter kernel (not a terminal IPython, not plain Python)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(iterable=None, **kwargs):
    """A tqdm bar over ``iterable``: the notebook widget where it can show, else plain text."""
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(iterable, **kwargs)
