"""Every chapter in notebooks/ executes in a real Jupyter kernel, as a student would run it:
strict exercises on (a wrong solution fails here), no MPLBACKEND override (figures must
appear), hypothesis storage kept out of the repository. Asserted: no error, nothing on
stderr, and an image from every cell that draws a figure.

    python -m pytest tests/test_notebooks.py -k ch03     # one chapter
"""

import pathlib
import re
import time

import jupytext
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = pathlib.Path(__file__).parents[1] / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("ch[0-9][0-9]_*.py"))
APPENDICES = sorted(NOTEBOOKS.glob("appendix_*.py"))  # optional chapters: executed, no exercises required
DRAWS_FIGURE = re.compile(r"\bplt\.(subplots|figure|show)\(")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def kernel_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # inherited by the kernel: figures would vanish
    monkeypatch.setenv("MINISENSLI_STRICT_EXERCISES", "1")
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(tmp_path / "hypothesis"))


def execute(path: pathlib.Path):
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} raised:\n{ANSI.sub('', str(exc))}")
    return notebook, time.perf_counter() - start


def test_chapters_are_numbered_from_one_without_gaps():
    numbers = [int(p.name[2:4]) for p in CHAPTERS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in CHAPTERS]
    assert len(numbers) >= 5


@pytest.mark.parametrize("path", CHAPTERS + APPENDICES, ids=lambda p: p.stem)
def test_chapter_executes_cleanly(path, kernel_environment, record_property):
    notebook, seconds = execute(path)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name}, code cell {index}:\n{cell.source[:300]}"
        stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"stderr output in {where}\n--- stderr ---\n{''.join(stderr)}"
        assert not [o for o in cell.outputs if o.output_type == "error"], where
        if DRAWS_FIGURE.search(cell.source):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert images, f"no figure was produced by {where}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_exercises_with_hidden_solutions(path):
    notebook = jupytext.read(path)
    solutions = [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
    assert 2 <= len(solutions) <= 4, f"{path.name}: {len(solutions)} solution cells, expected 2-4 exercises"
    for cell in solutions:
        assert "hide-input" in cell.metadata["tags"], f"{path.name}: a solution cell is not tagged hide-input"
        assert "check(" in cell.source, f"{path.name}: a solution cell does not call check()"
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown").lower()
    for heading in ("summary", "exercises", "open question"):
        assert heading in text, f"{path.name}: no '{heading}' section"


def test_training_with_a_progress_bar_in_a_kernel_writes_nothing_to_stderr(kernel_environment, tmp_path):
    """tqdm.auto warned 'IProgress not found' on stderr in kernels without ipywidgets, and its
    text bar writes to stderr: the package's progress bars must keep a chapter's stderr empty."""
    import nbformat

    source = (
        "import minisensli as ms\nfrom minisensli import data, nn, optim\nms.manual_seed(0)\n"
        "split = data.spirals()\nmodel = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))\n"
        "loader = data.DataLoader(split.train, batch_size=450)\n"
        "history = ms.fit(model, loader, optim.SGD(model.parameters(), lr=0.1), epochs=3)"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    path = tmp_path / "progress.ipynb"
    nbformat.write(notebook, path)
    executed, _ = execute(path)
    outputs = executed.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], outputs
