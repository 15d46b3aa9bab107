"""Sphinx configuration of the minisensli book.

The chapters are the jupytext percent files in notebooks/ (reached through the book/chapters
link); myst-nb reads them with jupytext and executes every one on every build, so the book
is also a test: an error, a warning or any stderr output fails the build (build.py runs
sphinx-build with -W). MathJax is served from _static (fetched by build.py from the npm
registry, pinned), so the book renders math with no network.
"""

project = "minisensli"
author = "the minisensli developers"
copyright = "2026, the minisensli developers (MIT licence)"

extensions = ["myst_nb"]
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
