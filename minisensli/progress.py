"""Progress bars that behave in a terminal and in a notebook kernel.

``tqdm.auto`` picks the widget bar in a Jupyter kernel and, where ipywidgets is not installed,
prints ``TqdmWarning: IProgress not found`` on stderr at every import, so each chapter's first
output would be a warning. Here the widget bar is used only when ipywidgets can be imported;
otherwise a kernel gets the text bar on stdout (a notebook shows stderr in red, and the book
build treats stderr as an error), and a terminal gets the ordinary text bar on stderr.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from typing import Any


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    ip = get_ipython() if get_ipython is not None else None
    return ip is not None and hasattr(ip, "kernel")


def progress_bar(iterable: Iterable[Any], **options: Any) -> Any:
    """A tqdm bar over ``iterable``; ``options`` go to tqdm (desc, disable, leave, ...)."""
    if _in_kernel():
        if importlib.util.find_spec("ipywidgets") is not None:
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(iterable, **options)
        options.setdefault("file", sys.stdout)
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm(iterable, **options)
