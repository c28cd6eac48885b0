"""The docs run as written: every Python block of README.md and docs/*.md is executed, each file's blocks in
order in one namespace, in a temporary directory (files the blocks write land there).

Blocks are found by a CommonMark parser (markdown-it-py), so what the test runs is exactly what a reader sees
as a code block. A block that is deliberately not runnable (an excerpt of the engine's source, say) is marked
in the markdown by an HTML comment right before it, ``<!-- fragment: why it cannot run -->``; the test skips it
with that reason and fails when the reason is missing.
"""
import pathlib
import re

import graphviz
import markdown_it
import pytest

from graphcore.diagram import dot_available

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = {"python", "py", "python3"}
FRAGMENT = re.compile(r"<!--\s*fragment\b:?(.*?)-->", re.S)


class Block:
    """One fenced Python block: where it starts (1-based line of its first code line), its code, and the
    fragment reason when the markdown marks it as one (``""`` for a marker without a reason)."""

    def __init__(self, path, line, code, fragment=None):
        self.path, self.line, self.code, self.fragment = path, line, code, fragment

    @property
    def where(self):
        return f"{_shown(self.path)}:{self.line}"

    def fragment_reason(self):
        """Why the block is not run (``None`` for a block that runs); a marker without a reason fails."""
        assert self.fragment != "", (f"{self.where}: a fragment marker needs its reason: "
                                     "<!-- fragment: why this block cannot run -->")
        return self.fragment


def _shown(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def python_blocks(path):
    """The Python blocks of a markdown file, in order, each with the fragment marker just before it, if any.
    A fragment marker that does not stand right before a Python block is an error (it would mark nothing)."""
    tokens = markdown_it.MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    blocks, marker = [], None
    for token in tokens:
        if token.type == "html_block" and FRAGMENT.search(token.content):
            marker = (" ".join(FRAGMENT.search(token.content).group(1).split()), token.map[0] + 1)
            continue
        is_python = token.type == "fence" and token.info.split()[:1] and token.info.split()[0] in PYTHON
        if marker is not None and not is_python:
            raise AssertionError(f"{_shown(path)}:{marker[1]}: a fragment marker must stand right "
                                 "before the Python block it marks")
        if is_python:
            blocks.append(Block(path, token.map[0] + 2, token.content, marker[0] if marker else None))
        marker = None
    return blocks


BLOCKS = [block for path in DOCS for block in python_blocks(path)]


class _FileRun:
    """The state of one markdown file's run: its namespace, its directory and how many blocks have run."""

    def __init__(self, directory):
        self.namespace = {"__name__": "__docs__"}
        self.directory = directory
        self.done = 0


@pytest.fixture(scope="module")
def runs():
    """Each markdown file's run so far, shared by the tests of its blocks."""
    return {}


def _run(block, run):
    """Execute a block with the markdown file's name and line numbers, so a traceback shows the doc's lines.
    Diagrams in SVG need graphviz's ``dot`` program (``tools/run.sh`` installs it): without it the block is
    skipped, as the render tests are."""
    code = compile("\n" * (block.line - 1) + block.code, str(block.path), "exec")
    try:
        exec(code, run.namespace)
    except graphviz.ExecutableNotFound:
        if dot_available():
            raise
        pytest.skip(f"{block.where} draws a diagram: graphviz's dot program is not installed")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_doc_block_runs(block, runs, tmp_path_factory, monkeypatch):
    """Run ``block`` after the blocks before it in its file (running those first when this one was selected
    alone), in the file's own temporary directory."""
    if block.fragment_reason() is not None:
        pytest.skip(f"{block.where} is a fragment: {block.fragment}")
    same_file = [b for b in BLOCKS if b.path == block.path]
    index = same_file.index(block)
    run = runs.get(block.path)
    if run is None or run.done > index:
        run = runs[block.path] = _FileRun(tmp_path_factory.mktemp(block.path.stem))
    monkeypatch.chdir(run.directory)
    for earlier in same_file[run.done:index + 1]:
        if earlier.fragment is None:
            _run(earlier, run)
        run.done += 1


def test_every_doc_with_python_has_a_runnable_block():
    """The collection is not vacuous: the files this test covers, and their runnable blocks."""
    runnable = {b.path.name for b in BLOCKS if b.fragment is None}
    assert {"README.md", "tutorial.md", "onnx.md", "onnx_import.md"} <= runnable


def test_a_fragment_without_a_reason_fails(tmp_path):
    """``<!-- fragment -->`` with no reason fails the block's test; a marker before anything but a Python
    block is refused when the file is read."""
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- fragment -->\n```python\nundefined_name\n```\n\n"
                   "<!-- fragment: quoted from a module -->\n```python\nalso_undefined\n```\n")
    first, second = python_blocks(doc)
    assert second.fragment_reason() == "quoted from a module"
    with pytest.raises(AssertionError, match="needs its reason"):
        first.fragment_reason()
    doc.write_text("<!-- fragment: stray -->\n```bash\nls\n```\n")
    with pytest.raises(AssertionError, match="must stand right before"):
        python_blocks(doc)
