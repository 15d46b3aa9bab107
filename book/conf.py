"""Sphinx configuration of the minisensli book.

The chapters are the jupytext percent files in notebooks/ (reached through the book/chapters
link); myst-nb reads them with jupytext and executes every one on every build, so the book
is also a test: an error, a warning or any stderr output fails the build (build.py runs
sphinx-build with -W). MathJax is served from _static (fetched by build.py from the npm
registry, pinned), so the book renders math with no network.

The API reference (api/, one page per subpackage) is generated from the package's docstrings by
sphinx.ext.autodoc. Those docstrings are plain text written for help() (plain-text formulas such
as |x|, a*b, **options), so they are shown as written, preformatted, rather than parsed as
reStructuredText, which would garble the formulas and fail the -W build. Code mentions of a
module in the chapters (`minisensli/autograd.py`, `minisensli/ops/`, `minisensli.sensli.sites`,
`nn/layers.py`, and after such a mention `.virtual`, `config.py`) and of a documented name
(`ms.fit`, `sensli.grow`, `F.relu`, and after a module mention `insert`) become links to the API
reference.
"""

import importlib
import pathlib
import re
import sys
from typing import Any

from docutils import nodes

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document the checkout being built, whatever is installed

project = "minisensli"
author = "the minisensli developers"
copyright = "2026, the minisensli developers (MIT licence)"

extensions = ["myst_nb", "sphinx.ext.autodoc"]
source_suffix = {".md": "myst-nb", ".py": "myst-nb"}
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
exclude_patterns = [
    "_build",
    "_static",
    "conf.py",
    "build.py",
    "chapters/README.md",
    "**/__pycache__",
    "**.ipynb_checkpoints",
]

# execute every chapter, every build; a failing cell or stray stderr fails the build
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_execution_show_tb = True
nb_output_stderr = "warn"
nb_merge_streams = True  # one print, one output box
nb_kernel_rgx_aliases = {".*": "python3"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "minisensli: autograd and SensLI from scratch"
html_static_path = ["_static"]
html_css_files = ["minisensli.css"]
html_show_sphinx = False
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "search_bar_text": "Search the book",
    "extra_footer": "",
    "footer_start": ["copyright"],
    "footer_center": [],
    "footer_end": [],
}
# MathJax 3.2.2 from _static, no CDN (see build.py)
mathjax_path = "mathjax/tex-mml-chtml.js"

# ----------------------------------------------------------------------------- API reference

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # a default shows as written (DEFAULT_TOL), not as its value

LITERAL_MARKUP = re.compile(r"``([^`]+)``")
ROLE_MARKUP = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]+)`")


def plain_text_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Show a docstring as written (preformatted); only ``literal`` and :role:`name` markup is unwrapped."""
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return
    text = [ROLE_MARKUP.sub(r"\1", LITERAL_MARKUP.sub(r"\1", line)) for line in lines]
    lines[:] = [".. code-block:: text", "   :class: docstring", ""] + [
        f"   {line}" if line.strip() else "" for line in text
    ]


NAME_ALIASES = {
    "ms": "minisensli",
    "F": "minisensli.functional",
    "nn": "minisensli.nn",
    "optim": "minisensli.optim",
    "data": "minisensli.data",
    "sensli": "minisensli.sensli",
}
NAME_MENTION = re.compile(r"^([A-Za-z_][\w.]*?)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)(?:\(\))?$")


def mentioned_module(text: str, modules: dict[str, Any]) -> str | None:
    """The documented module a code mention names: minisensli/ops/, minisensli/nn/layers.py,
    nn/layers.py, minisensli.sensli.sites; None for anything else."""
    if " " in text or not ("/" in text or text.startswith("minisensli")):
        return None
    name = text.removesuffix(".py").rstrip("/").replace("/", ".")
    if not name.startswith("minisensli"):
        name = f"minisensli.{name}"
    return name if name in modules else None


def mentioned_object(text: str, objects: dict[str, Any]) -> str | None:
    """The documented object a code mention such as ms.fit, sensli.grow(), F.relu or
    ms.Tensor.backward names (by where it is defined); None for anything else."""
    match = NAME_MENTION.match(text)
    if match is None:
        return None
    prefix, attributes = match.groups()
    module_name = NAME_ALIASES.get(prefix, prefix)
    if not module_name.startswith("minisensli"):
        return None
    try:
        obj: Any = importlib.import_module(module_name)
        for attribute in attributes.split("."):
            obj = getattr(obj, attribute)
    except (ImportError, AttributeError):
        return None
    qualified = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    return qualified if qualified in objects else None


RELATIVE_MENTION = re.compile(r"^\.?[A-Za-z_]\w*(?:\.py)?$")


def _paragraph(node: nodes.Node) -> nodes.Node:
    while node.parent is not None and not isinstance(node, (nodes.paragraph, nodes.list_item, nodes.title)):
        node = node.parent
    return node


def _relative_target(text: str, context: tuple[str, str], domain: Any) -> tuple[str, str] | None:
    """A short mention read in the paragraph's context (the package and module mentioned last):
    `.virtual` or `config.py` names a module of that package, `insert` or `Module` an object of
    that module or package. Returns (kind, name) or None."""
    package, module = context
    bare = text.lstrip(".").removesuffix(".py")
    if f"{package}.{bare}" in domain.modules and (text.startswith(".") or text.endswith(".py")):
        return "module", f"{package}.{bare}"
    if text.startswith(".") or text.endswith(".py"):
        return None
    if f"{module}.{bare}" in domain.objects:
        return "object", f"{module}.{bare}"
    name = mentioned_object(f"{package}.{bare}", domain.objects)
    return ("object", name) if name is not None else None


def link_code_mentions(app: Any, doctree: nodes.document, docname: str) -> None:
    """Turn code mentions of documented modules and names in the chapters into links to the API pages.

    Full mentions (`minisensli/nn/layers.py`, `ms.fit`) link anywhere; short ones (`.virtual`,
    `config.py`, `insert`) only after a full module mention in the same paragraph, read
    relative to it."""
    if docname.startswith("api/"):
        return
    domain = app.env.get_domain("py")
    contexts: dict[int, tuple[str, str]] = {}  # paragraph -> (package, module) mentioned last
    for node in list(doctree.findall(nodes.literal)):
        if isinstance(node.parent, nodes.reference) or isinstance(node, nodes.literal_block):
            continue
        text = node.astext().strip()
        paragraph = id(_paragraph(node))
        found: tuple[str, str] | None = None
        module = mentioned_module(text, domain.modules)
        if module is not None:
            found = ("module", module)
        elif (name := mentioned_object(text, domain.objects)) is not None:
            found = ("object", name)
        elif paragraph in contexts and RELATIVE_MENTION.match(text):
            found = _relative_target(text, contexts[paragraph], domain)
        if found is None:
            continue
        kind, name = found
        if kind == "module":
            is_package = any(other.startswith(f"{name}.") for other in domain.modules)
            contexts[paragraph] = (name if is_package else name.rpartition(".")[0], name)
        entry = domain.modules[name] if kind == "module" else domain.objects[name]
        uri = f"{app.builder.get_relative_uri(docname, entry.docname)}#{entry.node_id}"
        reference = nodes.reference("", "", internal=True, refuri=uri, reftitle=f"API reference: {name}")
        node.replace_self(reference)
        reference += node


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", plain_text_docstring)
    app.connect("doctree-resolved", link_code_mentions)
