"""`minisensli grade` on a small generated class: correct, unattempted, wrong, crashing, hanging,
memory-hungry and cheating submissions, and broken files; every score asserted.

The notebooks are built from the chapters' own cells (chapters 1 and 2: fast), so the function
names are the ones students see. Limits are short so that the hanging notebook costs seconds.
"""

import importlib
import inspect
import json
import os
import pathlib
import sys
import textwrap

import jupytext
import nbformat
import pytest

from minisensli import cli
from minisensli.grading import Limits, course_tasks, grade
from minisensli.grading.grader import GradingInterrupted
from minisensli.grading.schema import load_schema
from minisensli.notebooks import chapter_files

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
CHAPTERS = ("ch01", "ch02")
TASKS = [t for t in course_tasks() if t.chapter in CHAPTERS]
POINTS = {c: sum(t.points for t in TASKS if t.chapter == c) for c in CHAPTERS}
LIMITS = Limits(timeout=25, memory_mb=2048, file_size_mb=4, check_timeout=4)
IMPORTS = "import math\nimport numpy as np\nfrom minisensli.exercises import check\n"


def chapter_cells(chapter):
    """(stub cells, solution cells) of the chapter, as source strings."""
    path = next(p for p in chapter_files() if p.name.startswith(chapter))
    cells = jupytext.read(path).cells
    solutions = [i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    return [cells[i - 1].source for i in solutions], [cells[i].source for i in solutions]


def wrong_cells(chapter):
    answers = importlib.import_module(f"answers_{chapter}").ANSWERS
    cells = []
    for task in (t for t in TASKS if t.chapter == chapter):
        fn = next(iter(answers[task.exercise]["wrong"].values()))
        cells.append(textwrap.dedent(inspect.getsource(fn)) + f"\n{task.function} = {fn.__name__}\n")
    return cells


def notebook(*cells, outputs=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    if outputs:
        for cell in nb.cells:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=outputs)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def cheats_for(chapter):
    """Each cheat listed in the issue, on top of stub (or wrong) answers."""
    stubs, _ = chapter_cells(chapter)
    wrong = wrong_cells(chapter)
    first = next(t for t in TASKS if t.chapter == chapter)
    return {
        "redefines-check": [IMPORTS, "def check(name, fn):\n    print(name + ': passed 30 cases')\n", *stubs],
        "rebinds-exercises-check": [
            IMPORTS,
            "import minisensli.exercises as E\nE.check = lambda name, fn: print(name + ': passed')\ncheck = E.check\n",
            *wrong,
        ],
        "patches-checker-internals": [
            IMPORTS,
            "import minisensli.exercises._core as C, minisensli.exercises._asserts as A\n"
            "C.run_check = lambda name, fn, **k: C.Verdict(name, 'passed', 30, points_possible=3)\n"
            "A.assert_close = lambda *a, **k: None\n"
            "np.abs = lambda x: 0 * x\n"
            "C.Verdict.points = property(lambda self: self.points_possible)\n",
            *wrong,
        ],
        "patches-the-oracle": [
            IMPORTS,
            "import minisensli as ms\nimport minisensli.autograd as AG\n"
            "AG.unbroadcast.__code__ = (lambda grad, shape: np.zeros(shape)).__code__\n"
            "ms.Tensor.backward = lambda self, g=None, retain_graph=False: None\n",
            *wrong,
        ],
        "patches-inside-the-answer": [
            IMPORTS,
            *wrong,
            f"_real = {first.function}\n"
            f"def {first.function}(*args):\n"
            "    import minisensli.exercises._asserts as A\n"
            "    A.assert_close = lambda *a, **k: None\n"
            "    return _real(*args)\n",
        ],
        "prints-passed": [
            IMPORTS,
            *stubs,
            "for t in %r:\n    print(t + ': passed 30 cases')\n" % [t.exercise for t in TASKS],
        ],
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    students = {}
    for chapter in CHAPTERS:
        stubs, solutions = chapter_cells(chapter)
        stem = next(p.stem for p in chapter_files() if p.name.startswith(chapter))

        def put(student, cells, name=None, stem=stem, chapter=chapter, **kwargs):
            folder = subs / student
            folder.mkdir(parents=True, exist_ok=True)
            text = cells if isinstance(cells, str) else notebook(*cells, **kwargs)
            (folder / (name or f"{stem}.ipynb")).write_text(text)
            students.setdefault(student, set()).add(chapter)

        put("correct", [IMPORTS, *solutions])
        put("unattempted", [IMPORTS, *stubs])
        put("wrong", [IMPORTS, *wrong_cells(chapter)])
        put("outputs-edited", [IMPORTS, *stubs], outputs="passed 30 cases\n")
        for cheat, cells in cheats_for(chapter).items():
            put(cheat, cells)
        hostile = {
            "ch01": [  # crashes, exits, allocates 50 GB, writes past the size limit, deletes its folder: then answers
                IMPORTS,
                "raise RuntimeError('a crashing cell')",
                "import sys\nsys.exit(3)",
                "big = np.ones(50 * 2**30 // 8)",
                "open('big.bin', 'wb').write(b'0' * (8 * 2**20))",
                "import os\nfor f in os.listdir('.'):\n    os.remove(f) if os.path.isfile(f) else None",
                *solutions,
                # one answer that hangs and one that allocates 50 GB inside the check
                f"def {TASKS[0].function}(*args):\n    while True:\n        pass\n",
                f"def {TASKS[1].function}(*args):\n    return np.ones(50 * 2**30 // 8)\n",
            ],
            "ch02": [IMPORTS, *solutions, "import os\nos._exit(0)"],  # kills its process before the checks
        }
        put("hostile", hostile[chapter])
        put("hangs", [IMPORTS, *solutions, "while True:\n    pass"] if chapter == "ch01" else [IMPORTS, *solutions])
    odd = subs / "Zoë O'Brien; rm -rf"
    odd.mkdir()
    (odd / "ch01_autograd.ipynb").write_text("{ not json")
    (odd / "ch02_ops_broadcasting.ipynb").write_text("")
    (odd / "homework.ipynb").write_text(notebook(IMPORTS))
    (odd / "appendix_a_conv_spectral_norm.ipynb").write_text(notebook(IMPORTS))  # optional, nothing to grade
    (odd / "notes.txt").write_text("hi")
    v3 = subs / "nbformat3"
    v3.mkdir()
    (v3 / "ch01.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    out = root / "grades.csv"
    before = _children()  # processes other tests left to this one (a pool's resource tracker)
    book = grade(subs, out, jobs=2, limits=LIMITS)
    return book, out, root, before


def scores(book):
    return {
        s["student"]: {c: sum(r["points"] for r in s["exercises"] if r["chapter"] == c) for c in CHAPTERS}
        for s in book["students"]
    }


def statuses(book, student, chapter):
    entry = next(s for s in book["students"] if s["student"] == student)
    return [r["status"] for r in entry["exercises"] if r["chapter"] == chapter]


def test_every_score_of_the_class(graded):
    book, _, _, _ = graded
    got = scores(book)
    full = {c: POINTS[c] for c in CHAPTERS}
    zero = {c: 0 for c in CHAPTERS}
    assert got["correct"] == full
    for student in ("unattempted", "wrong", "outputs-edited", *cheats_for("ch01")):
        assert got[student] == zero, (
            student,
            [(s["student"], s["exercises"]) for s in book["students"] if s["student"] == student],
        )
    n1, n2 = (len([t for t in TASKS if t.chapter == c]) for c in CHAPTERS)
    assert statuses(book, "correct", "ch01") == ["passed"] * n1
    assert statuses(book, "unattempted", "ch01") == ["not attempted"] * n1
    assert statuses(book, "redefines-check", "ch02") == ["not attempted"] * n2
    assert set(statuses(book, "wrong", "ch02")) <= {"failed", "error"}
    # the hostile notebook: its cells failed one by one, the later answers still count
    hostile = statuses(book, "hostile", "ch01")
    assert hostile[0] == "timeout" and hostile[1] == "error" and hostile[2:] == ["passed"] * (n1 - 2)
    assert (
        got["hostile"]["ch01"]
        == sum(t.points for t in TASKS if t.chapter == "ch01") - TASKS[0].points - TASKS[1].points
    )
    assert statuses(book, "hostile", "ch02") == ["error"] * n2  # os._exit before its checks
    assert statuses(book, "hangs", "ch01") == ["timeout"] * n1 and got["hangs"] == {"ch01": 0, "ch02": POINTS["ch02"]}
    odd = next(s for s in book["students"] if s["student"] == "Zoë O'Brien; rm -rf")
    assert {r["status"] for r in odd["exercises"] if r["chapter"] in CHAPTERS} == {"error"} and odd["points"] == 0
    assert any("not valid JSON" in n["detail"] for n in odd["notebooks"])
    assert any("empty" in n["detail"] for n in odd["notebooks"])
    assert any("homework.ipynb" in note for note in odd["notes"]) and any("notes.txt" in n for n in odd["notes"])
    assert any("appendix_a_conv_spectral_norm.ipynb: an appendix" in note for note in odd["notes"])
    assert all(r["chapter"].startswith("ch") for r in odd["exercises"])  # an appendix has no exercises
    assert "nbformat 3" in next(s for s in book["students"] if s["student"] == "nbformat3")["notebooks"][0]["detail"]


def test_the_grade_files(graded):
    book, out, root, _ = graded
    import csv

    import jsonschema

    on_disk = json.loads((root / "grades.json").read_text())
    jsonschema.validate(on_disk, load_schema())
    assert on_disk["complete"] is True
    rows = list(csv.DictReader(out.open()))
    exercises = len(course_tasks())
    assert len(rows) == len(book["students"]) * exercises
    correct = [r for r in rows if r["student"] == "correct"]
    assert {r["status"] for r in correct if r["chapter"] in CHAPTERS} == {"passed"}
    assert {r["status"] for r in correct if r["chapter"] not in CHAPTERS} <= {"missing"}
    assert int(correct[0]["student_points"]) == sum(POINTS.values())
    assert [p for p in root.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def _children() -> dict[int, str]:
    """pid -> /proc stat line of every child of this process."""
    own, children = os.getpid(), {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == own:
                children[int(entry.name)] = stat
    return children


def test_nothing_is_left_running(graded):
    before = graded[3]
    left = {pid: stat[:80] for pid, stat in _children().items() if pid not in before}
    assert not left, f"grading left children: {left}"


def test_interrupted_grading_keeps_what_is_graded_and_resume_finishes(tmp_path):
    subs = tmp_path / "subs"
    _, solutions = chapter_cells("ch01")
    for student in ("a", "b", "c"):
        (subs / student).mkdir(parents=True)
        (subs / student / "ch01_autograd.ipynb").write_text(notebook(IMPORTS, *solutions))
    out = tmp_path / "grades.csv"

    def stop_after_one(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(GradingInterrupted) as stopped:
        grade(subs, out, jobs=1, limits=LIMITS, progress=stop_after_one)
    assert stopped.value.graded >= 1
    partial = json.loads((tmp_path / "grades.json").read_text())
    assert partial["complete"] is False
    graded = [s for s in partial["students"] if any(n["chapter"] == "ch01" for n in s["notebooks"])]
    assert 1 <= len(graded) < 3
    assert cli.main(["grade", str(subs), "--out", str(out), "--no-progress"]) == 2  # exists: refused
    book = grade(subs, out, jobs=2, limits=LIMITS, resume=True)
    assert book["complete"] and {s["student"]: s["points"] for s in book["students"]} == {
        s: POINTS["ch01"] for s in "abc"
    }


def test_bad_settings_are_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert cli.main(["grade", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert cli.main(["grade", str(tmp_path / "subs"), "--jobs", "0", "--no-progress"]) == 2
    assert cli.main(["grade", str(tmp_path / "subs"), "--timeout", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "--jobs must be at least 1" in err and "--timeout must be positive" in err


def test_exercises_command_lists_every_exercise_with_points(capsys):
    assert cli.main(["exercises"]) == 0
    out = capsys.readouterr().out
    for task in course_tasks():
        assert task.exercise in out
    assert f"{sum(t.points for t in course_tasks())} points in all" in out
