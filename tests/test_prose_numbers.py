"""Numbers in the chapters' prose cannot drift from the computations.

What counts as a number that must be backed (a "quoted result"), in a markdown cell outside
LaTeX math ($...$, $$...$$) and outside code spans (`...`):
- a number with a decimal point (0.77, 1.7), with an optional leading sign;
- a percentage (53 %, 46%);
- a ratio or record of integers "a/b" (22/8, 180/180);
- a number followed by a unit of time (s, ms, seconds, minutes) or a factor sign (1.7×, 3x).

Exempt, because they are settings or names rather than results: plain integers (chapter,
section, exercise and seed numbers, the "(N points)" of exercise headings, years, widths,
epochs), everything inside math (the method's constants: 0.8 I, tau = 1, 1/2) and inside code
spans, and arXiv identifiers (2311.15995).

A quoted result is backed when the chapter's code has it, by one of:
- the same number as a literal in a code cell (a setting such as lr=0.2, or an asserted value
  such as assert_allclose(x, 0.125));
- for a record a/b, both integers in one assert statement (`assert record == (22, 8)`);
- an assertion with literal bounds around it: `assert lo < expr < hi` (or <=), in any code
  cell of the chapter — the prose "about 0.77" is backed by `assert 0.7 < ratio < 0.85`;
- for a percentage p %, the same bounds written as fractions (0.5 < error < 0.56 backs 53 %).
A number that is only printed must be asserted with a bound, or the prose must refer to the
printed value ("printed above") instead of repeating it. Run-time claims are written as "on 2
cores, a few seconds" (no number with a unit).
"""

from __future__ import annotations

import ast
import pathlib
import re

import jupytext
import pytest

NOTEBOOKS = pathlib.Path(__file__).parents[1] / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("ch[0-9][0-9]_*.py")) + sorted(NOTEBOOKS.glob("appendix_*.py"))

MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
ARXIV = re.compile(r"\b\d{4}\.\d{4,5}\b")
NUMBER = r"[-+−]?\d+(?:\.\d+)?"
QUOTED = re.compile(
    rf"(?P<pct>{NUMBER})\s?%"
    rf"|(?P<ratio>\d+/\d+)\b"
    rf"|(?P<unit>{NUMBER})\s?(?:s|ms|seconds?|minutes?)\b"
    rf"|(?P<factor>{NUMBER})\s?[×x](?![a-zA-Z])"
    rf"|(?P<dec>[-+−]?\d*\.\d+)"
)


def quoted_numbers(markdown: str) -> list[tuple[str, float, str]]:
    """(text, value, kind) of every quoted result in a markdown cell (see the module docstring)."""
    text = ARXIV.sub(" ", CODE_SPAN.sub(" ", MATH.sub(" ", markdown)))
    found = []
    for match in QUOTED.finditer(text):
        kind = match.lastgroup
        raw = match.group(kind).replace("−", "-")
        if kind == "ratio":
            top, bottom = raw.split("/")
            value = float(top) / float(bottom) if float(bottom) else float("nan")
        else:
            value = float(raw)
        found.append((match.group(0).strip(), value, kind))
    return found


def _literals(tree: ast.AST) -> set[float]:
    values = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            values.add(float(node.value))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            if isinstance(node.operand.value, (int, float)):
                values.add(-float(node.operand.value))
    return values


def _assert_literal_sets(tree: ast.AST) -> list[set[float]]:
    """The numeric literals of each assert statement (a record 22/8 is backed by `== (22, 8)`)."""
    return [_literals(node) for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def _bounds(tree: ast.AST) -> list[tuple[float, float]]:
    """(lo, hi) of every `assert lo < ... < hi` (or <=) with numeric literal ends."""
    pairs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
            parts = [node.test.left, *node.test.comparators]
            ends = [_literals(parts[0]), _literals(parts[-1])]
            if all(isinstance(op, (ast.Lt, ast.LtE)) for op in node.test.ops) and len(parts) == 3:
                if all(
                    len(e) == 1 and isinstance(p, (ast.Constant, ast.UnaryOp))
                    for e, p in zip(ends, (parts[0], parts[-1]))
                ):
                    pairs.append((min(ends[0]), max(ends[1])))
    return pairs


def backing(path: pathlib.Path) -> tuple[set[float], list[tuple[float, float]], list[set[float]]]:
    notebook = jupytext.read(path)
    literals, bounds, asserted = set(), [], []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        tree = ast.parse(source)
        literals |= _literals(tree)
        bounds += _bounds(tree)
        asserted += _assert_literal_sets(tree)
    return literals, bounds, asserted


def unbacked(path: pathlib.Path) -> list[str]:
    literals, bounds, asserted = backing(path)
    notebook = jupytext.read(path)
    missing = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for text, value, kind in quoted_numbers(cell.source):
            candidates = [value, value / 100] if kind == "pct" else [value]
            if any(abs(c - lit) <= 1e-12 * max(1.0, abs(c)) for c in candidates for lit in literals):
                continue
            if any(lo <= c <= hi for c in candidates for lo, hi in bounds):
                continue
            if kind == "ratio" and any({float(n) for n in text.split("/")} <= found for found in asserted):
                continue
            missing.append(f"{path.name}, markdown cell {index}: {text!r}")
    return missing


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_quoted_number_is_printed_or_asserted_beside_it(path):
    missing = unbacked(path)
    assert not missing, "numbers in the prose that no code cell sets or asserts:\n" + "\n".join(missing)


def test_the_scanner_sees_what_counts_and_skips_what_is_exempt():
    text = (
        "Chapter 6, exercise 2 (3 points), 2023: loss 0.77, 53 %, 22/8 wins, 1.7× faster, $0.8 I$, `lr=0.2`, 2311.15995"
    )
    assert [q[0] for q in quoted_numbers(text)] == ["0.77", "53 %", "22/8", "1.7×"]


# --- reading time ----------------------------------------------------------------------------
# Each chapter opens with "*Reading time: about R min; exercises: about E min.*", estimated
# (see notebooks/README.md) from the chapter itself, so the estimate follows the text:
#   R = prose words / 120 + code lines (outside solutions) / 12, rounded to 5 minutes;
#   E = 15 minutes per exercise (solution cell); "; exercises: ..." is left out when E = 0.
READING = re.compile(r"\*Reading time: about (\d+) min(?:; exercises: about (\d+) min)?\.\*")
WORDS_PER_MINUTE, CODE_LINES_PER_MINUTE, MINUTES_PER_EXERCISE = 120, 12, 15


def estimated_minutes(path: pathlib.Path) -> tuple[int, int]:
    notebook = jupytext.read(path)
    words = sum(len(c.source.split()) for c in notebook.cells if c.cell_type == "markdown")
    solutions = [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
    code = sum(
        1
        for c in notebook.cells
        if c.cell_type == "code" and c not in solutions
        for line in c.source.splitlines()
        if line.strip()
    )
    reading = words / WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE
    return max(5, 5 * round(reading / 5)), MINUTES_PER_EXERCISE * len(solutions)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_opens_with_its_estimated_reading_time(path):
    first = jupytext.read(path).cells[0].source
    match = READING.search(first)
    assert match, f"{path.name}: the first cell does not state '*Reading time: about R min; exercises: about E min.*'"
    stated = (int(match.group(1)), int(match.group(2) or 0))
    assert stated == estimated_minutes(path), f"{path.name}: states {stated}, the estimate is {estimated_minutes(path)}"
