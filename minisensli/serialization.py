"""Saving and loading models: architecture (JSON) and weights in one .npz file.

The file holds one array per parameter (key ``param:<name>``) and the architecture as a
JSON text (key ``__minisensli__``): a tree of {"type", "config", "children"} built from each
module's ``config()``. Loading rebuilds the tree from the registered module classes and
copies the weights in; no pickled code is involved, so a file cannot run anything.
"""

from __future__ import annotations

import json
import pathlib
import zipfile
from typing import Any

from . import __version__, backend
from .files import atomic_write
from .nn import MODULE_TYPES, Module, Sequential

FORMAT = "minisensli-model"
FORMAT_VERSION = 1
META_KEY = "__minisensli__"


class ModelFileError(ValueError):
    """A file is not a minisensli model, or is damaged (the message says what is wrong)."""


def describe(module: Module) -> dict[str, Any]:
    """The architecture of ``module`` as a JSON-compatible tree."""
    node: dict[str, Any] = {"type": type(module).__name__, "config": module.config()}
    if isinstance(module, Sequential):
        node["children"] = [describe(m) for m in module]
    return node


def build(node: dict[str, Any]) -> Module:
    """Rebuild a module from ``describe``'s tree (fresh weights)."""
    name = node.get("type")
    if name not in MODULE_TYPES:
        raise ModelFileError(f"unknown module type {name!r} in the architecture")
    cls = MODULE_TYPES[name]
    if cls is Sequential:
        return Sequential(*(build(child) for child in node.get("children", [])))
    try:
        return cls(**node.get("config", {}))
    except TypeError as err:
        raise ModelFileError(f"cannot rebuild {name} from config {node.get('config')}: {err}") from err


def save(model: Module, path: str | pathlib.Path) -> None:
    """Write architecture and weights of ``model`` to ``path`` (an .npz file), atomically.

    A model that ``load`` could not rebuild exactly (a module object used twice, a module type
    that is not registered, parameters that its config does not create) is refused with a
    ValueError before anything is written; a failed write leaves a previous file intact.
    """
    architecture = describe(model)
    _check_reloadable(model, architecture)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "minisensli": __version__, "architecture": architecture}
    arrays = {f"param:{name}": p.data for name, p in model.named_parameters()}
    arrays[META_KEY] = backend.text_to_array(json.dumps(meta))
    with atomic_write(path, "wb") as f:  # a file object keeps numpy from appending '.npz' to the name
        backend.save_arrays(f, arrays)


def _check_reloadable(model: Module, architecture: dict[str, Any]) -> None:
    """Raise a ValueError naming the reason when ``load`` would not give back this model."""
    seen: dict[int, str] = {}
    for name, module in model.named_modules():
        if id(module) in seen:
            raise ValueError(f"save: the same {type(module).__name__} object sits at {seen[id(module)] or 'the top'!r} "
                             f"and at {name!r}; a model file cannot express shared modules, so it would load as two "
                             "independent layers. Use separate modules (e.g. module.copy()) before saving")
        seen[id(module)] = name
        if MODULE_TYPES.get(type(module).__name__) is not type(module):
            raise ValueError(f"save: module {name or 'the top'!r} is a {type(module).__qualname__}, which is not the "
                             f"registered module type of that name; load could not rebuild it")
    expected = {name: (p.shape, p.dtype) for name, p in model.named_parameters()}
    previous = backend.init_rng()
    backend.set_init_rng(backend.new_rng(0))  # the throwaway weights must not consume the caller's draws
    try:
        rebuilt = build(architecture)
    except (ValueError, TypeError) as err:  # ModelFileError is a ValueError
        raise ValueError(f"save: the model's description does not rebuild it ({err})") from err
    finally:
        backend.set_init_rng(previous)
    found = {name: p.shape for name, p in rebuilt.named_parameters()}
    if list(found) != list(expected) or any(found[n] != expected[n][0] for n in found):
        differ = sorted(n for n in set(found) | set(expected)
                        if n not in found or n not in expected or found[n] != expected[n][0])
        raise ValueError(f"save: load would rebuild different parameters than the model has (names or shapes "
                         f"differ at {differ[:5]}); a module's config() must describe all of its parameters")


def load(path: str | pathlib.Path) -> Module:
    """Read a model written by ``save``: same architecture, bit-identical weights."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no such file {path}")
    try:
        arrays = backend.load_arrays(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ModelFileError(f"{path}: not a minisensli model file (cannot read it as .npz: {err})") from err
    if META_KEY not in arrays:
        raise ModelFileError(f"{path}: not a minisensli model file (no {META_KEY} entry)")
    try:
        meta = json.loads(backend.array_to_text(arrays.pop(META_KEY)))
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: the architecture description is damaged ({err})") from err
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}, expected "
                             f"{FORMAT!r} version {FORMAT_VERSION}")
    model = build(meta["architecture"])
    state = {key[len("param:"):]: value for key, value in arrays.items() if key.startswith("param:")}
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as err:
        raise ModelFileError(f"{path}: weights do not match the architecture: {err}") from err
    for name, p in model.named_parameters():
        p.data = state[name].copy()  # the saved dtype exactly (load_state_dict casts to the new model's)
    return model
