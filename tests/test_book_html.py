"""Checks of the built book (run by .ci/run after `python book/build.py`):

    MINISENSLI_BOOK_HTML=book/_build/html python -m pytest tests/test_book_html.py

Every chapter has its page with as many figures as it has figure-drawing cells, math is
marked up for the locally served MathJax, solutions are collapsed, and no page references an
external host; the API reference has a page per subpackage with every public module, and the
chapters' "package modules" lines link to it. The checks of the built HTML are skipped when
MINISENSLI_BOOK_HTML is not set (the book is built after the tests); the check that every
module is on an API page runs always.
"""

import os
import pathlib
import re

import jupytext
import pytest

ROOT = pathlib.Path(__file__).parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("ch[0-9][0-9]_*.py")) + sorted((ROOT / "notebooks").glob("appendix_*.py"))
DRAWS_FIGURE = re.compile(r"\bplt\.(subplots|figure|show)\(")
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"""(?:@import|url\()\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)

API_PAGES = ("minisensli", "formats", "ops", "nn", "optim", "data", "sensli", "experiments", "exercises", "grading")
AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)$", re.MULTILINE)

html_dir = os.environ.get("MINISENSLI_BOOK_HTML")


@pytest.fixture(scope="module")
def html() -> pathlib.Path:
    if not html_dir:
        pytest.skip("set MINISENSLI_BOOK_HTML to the built book's folder")
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
    if any("solution" in c.metadata.get("tags", []) for c in notebook.cells):  # appendices have no exercises
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


def public_modules() -> set[str]:
    """Every module of the package whose own name does not start with an underscore."""
    package = ROOT / "minisensli"
    names = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__" or any(p.startswith("_") for p in parts[-1:]):
            continue
        names.add(".".join(parts))
    return names


def test_every_public_module_is_on_an_api_page():
    """A new module gets its entry in book/api/<subpackage>.md (no module left out of the reference)."""
    listed: dict[str, str] = {}
    for page in API_PAGES:
        for module in AUTOMODULE.findall((ROOT / "book" / "api" / f"{page}.md").read_text(encoding="utf-8")):
            assert module not in listed, f"{module} is on api/{page}.md and api/{listed[module]}.md"
            listed[module] = page
    assert public_modules() - set(listed) == set(), "modules missing from book/api/*.md"
    # a private module may be listed where it holds public names (exercises._core: check)
    existing = {m for m in listed if (ROOT / (m.replace(".", "/") + ".py")).is_file()}
    assert set(listed) - public_modules() - existing == set(), "book/api/*.md lists modules that do not exist"
    index = (ROOT / "book" / "api" / "index.md").read_text(encoding="utf-8")
    assert all(f"\n{page}\n" in index for page in API_PAGES)


def test_api_pages_are_built_with_the_documented_names(html):
    for page in API_PAGES:
        assert (html / "api" / f"{page}.html").is_file(), f"api/{page}.html missing"
    engine = (html / "api" / "minisensli.html").read_text(encoding="utf-8")
    for name in ("minisensli.autograd.Tensor.backward", "minisensli.autograd.Function", "minisensli.train.fit"):
        assert f'id="{name}"' in engine, f"{name} is not documented on api/minisensli.html"
    assert 'id="minisensli.sensli.growth.grow"' in (html / "api" / "sensli.html").read_text(encoding="utf-8")
    assert 'id="minisensli.nn.layers.Dense"' in (html / "api" / "nn.html").read_text(encoding="utf-8")
    assert 'id="minisensli.exercises._core.check"' in (html / "api" / "exercises.html").read_text(encoding="utf-8")
    assert "api/index.html" in (html / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_package_modules_lines_link_to_the_api_reference(html, chapter):
    """The modules a chapter names in its "package modules" line are links to their API entries."""
    text = (html / "chapters" / f"{chapter.stem}.html").read_text(encoding="utf-8")
    links = re.findall(r'href="\.\./api/(\w+)\.html#([^"]+)"', text)
    assert any(anchor.startswith("module-") for _, anchor in links), f"{chapter.stem}: no module linked to the API"
    for page, anchor in set(links):
        target = (html / "api" / f"{page}.html").read_text(encoding="utf-8")
        assert f'id="{anchor}"' in target, f"{chapter.stem}: link to api/{page}.html#{anchor}, no such entry"
