"""Checks of the built book (run by .ci/run after `python book/build.py`):

    MINISENSLI_BOOK_HTML=book/_build/html python -m pytest tests/test_book_html.py

Every chapter has its page with as many figures as it has figure-drawing cells, math is
marked up for the locally served MathJax, solutions are collapsed, and no page references an
external host. Skipped when MINISENSLI_BOOK_HTML is not set (the book is built after the tests).
"""

import os
import pathlib
import re

import jupytext
import pytest

ROOT = pathlib.Path(__file__).parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("ch[0-9][0-9]_*.py"))
DRAWS_FIGURE = re.compile(r"\bplt\.(subplots|figure|show)\(")
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"""(?:@import|url\()\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)

html_dir = os.environ.get("MINISENSLI_BOOK_HTML")
pytestmark = pytest.mark.skipif(not html_dir, reason="set MINISENSLI_BOOK_HTML to the built book's folder")


@pytest.fixture(scope="module")
def html() -> pathlib.Path:
    path = pathlib.Path(html_dir)
    assert (path / "index.html").is_file(), f"no built book in {path}"
    return path


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_is_in_the_book_with_its_figures_math_and_hidden_solutions(html, chapter):
    page = html / "chapters" / f"{chapter.stem}.html"
    assert page.is_file(), f"{page} missing"
    text = page.read_text(encoding="utf-8")
    notebook = jupytext.read(chapter)
    figure_cells = sum(1 for c in notebook.cells if c.cell_type == "code" and DRAWS_FIGURE.search(c.source))
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', text)
    assert len(images) >= figure_cells, f"{page.name}: {len(images)} images for {figure_cells} figure cells"
    for src in images:
        assert (page.parent / src).resolve().is_file(), f"{page.name}: image {src} missing"
    assert 'class="math' in text, f"{page.name}: no rendered math markup"
    assert "mathjax/tex-mml-chtml.js" in text
    assert "hide-input" in text or "above-input" in text, f"{page.name}: solutions not collapsed"
    index = (html / "index.html").read_text(encoding="utf-8")
    assert f"chapters/{chapter.stem}.html" in index, f"{chapter.stem} is not listed on the front page"


def test_mathjax_is_served_locally(html):
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert any((html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))


def test_derivations_page_is_built(html):
    text = (html / "derivations.html").read_text(encoding="utf-8")
    assert 'class="math' in text


def test_teaching_page_is_built_and_listed(html):
    text = (html / "teaching.html").read_text(encoding="utf-8")
    assert "Teaching with minisensli" in text and "generate_assignment" in text and "grades.csv" in text
    assert "teaching.html" in (html / "index.html").read_text(encoding="utf-8")


def test_no_page_references_an_external_host(html):
    offenders = []
    for path in html.rglob("*"):
        if path.suffix == ".html":
            hits = EXTERNAL.findall(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".css":
            hits = CSS_EXTERNAL.findall(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        offenders += [f"{path.relative_to(html)}: {hit}" for hit in hits]
    assert not offenders, "\n".join(offenders[:20])
