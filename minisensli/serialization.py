"""Saving and loading models: architecture (JSON) and weights in one .npz file.

The file holds one array per parameter (key ``param:<name>``) and the architecture as a
JSON text (key ``__minisensli__``): a tree of {"type", "config", "children"} built from each
module's ``config()``. Loading rebuilds the tree from the registered module classes and
copies the weights in; no pickled code is involved, so a file cannot run anything.
"""

from __future__ import annotations

import inspect
import json
import math
import pathlib
from typing import Any

from . import __version__, backend
from .files import atomic_write
from .nn import MODULE_TYPES, Module, Sequential
from .nn.init import ParameterBudgetError, parameter_budget

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
    check_architecture(node)
    return _build(node)


def _build(node: dict[str, Any]) -> Module:
    cls = MODULE_TYPES[node["type"]]
    if cls is Sequential:
        return Sequential(*(_build(child) for child in node.get("children", [])))
    try:
        return cls(**node.get("config", {}))
    except ParameterBudgetError:
        raise
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise ModelFileError(f"cannot rebuild {node['type']} from config {node.get('config')}: {err}") from err


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


MAX_DEPTH = 32  # nesting of Sequentials in an architecture
MAX_META_BYTES = 1 << 20  # the JSON description; a model with 10,000 modules needs ~1 MB
BUDGET_SLACK = 65536  # parameter entries an architecture may have beyond twice the stored ones
NODE_KEYS = {"type", "config", "children"}
META_KEYS = {"format", "version", "minisensli", "architecture"}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def check_architecture(root: Any) -> None:
    """Check describe()'s tree before anything is built: every node a dict with a known module
    type, a config of plain JSON scalars that names only constructor arguments, children only
    under Sequential, nesting at most MAX_DEPTH. Raises ModelFileError naming the node."""
    stack = [(root, "architecture", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelFileError(f"{where}: modules nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict):
            raise ModelFileError(f"{where}: expected a module description (a JSON object), got {type(node).__name__}")
        unknown = set(node) - NODE_KEYS
        if unknown:
            raise ModelFileError(f"{where}: unknown keys {sorted(unknown)}; a module has {sorted(NODE_KEYS)}")
        name = node.get("type")
        if not isinstance(name, str) or name not in MODULE_TYPES:
            raise ModelFileError(f"{where}: unknown module type {name!r} in the architecture")
        cls = MODULE_TYPES[name]
        config = node.get("config", {})
        if not isinstance(config, dict):
            raise ModelFileError(f"{where} ({name}): config must be a JSON object, got {type(config).__name__}")
        allowed = {
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        } - {"self", "rng"}
        for key, value in config.items():
            if key not in allowed:
                raise ModelFileError(f"{where} ({name}): unknown config key {key!r}; allowed: {sorted(allowed)}")
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ModelFileError(
                    f"{where} ({name}): config {key!r} must be a number, string, boolean or "
                    f"null, got {type(value).__name__}"
                )
        children = node.get("children", [])
        if cls is not Sequential and "children" in node:
            raise ModelFileError(f"{where} ({name}): only Sequential has children")
        if not isinstance(children, list):
            raise ModelFileError(f"{where} ({name}): children must be a list, got {type(children).__name__}")
        stack.extend((child, f"{where}.{i}", depth + 1) for i, child in enumerate(children))


def _read_meta(archive: backend.ArrayArchive) -> dict[str, Any]:
    shape, dtype = archive.header(META_KEY)
    if len(shape) != 1 or dtype.kind != "u" or dtype.itemsize != 1 or shape[0] > MAX_META_BYTES:
        raise ModelFileError(
            f"the {META_KEY} entry must be at most {MAX_META_BYTES} bytes of UTF-8 text, got shape {shape} of {dtype}"
        )
    try:
        meta = json.loads(backend.array_to_text(archive.read(META_KEY)), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise ModelFileError(f"the architecture description is damaged ({type(err).__name__}: {err})") from err
    if not isinstance(meta, dict):
        raise ModelFileError(f"the {META_KEY} entry must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"format {meta.get('format')!r} version {meta.get('version')!r}, expected "
            f"{FORMAT!r} version {FORMAT_VERSION}"
        )
    unknown = set(meta) - META_KEYS
    if unknown or "architecture" not in meta:
        raise ModelFileError(f"the {META_KEY} entry must hold exactly the keys {sorted(META_KEYS)}, got {sorted(meta)}")
    check_architecture(meta["architecture"])
    return meta


def _load(path: pathlib.Path) -> Module:
    with backend.ArrayArchive(path) as archive:
        names = archive.names()
        if META_KEY not in names:
            raise ModelFileError(f"not a minisensli model file (no {META_KEY} entry)")
        unknown = [n for n in names if n != META_KEY and not n.startswith("param:")]
        if unknown:
            raise ModelFileError(f"unknown entries {unknown}; a model file holds {META_KEY} and param:<name> arrays")
        meta = _read_meta(archive)
        stored = {n[len("param:") :]: archive.header(n) for n in names if n.startswith("param:")}
        for name, (_, dtype) in stored.items():
            if dtype.name not in backend.FLOAT_DTYPES:
                raise ModelFileError(f"weight {name!r} has dtype {dtype}; expected one of {backend.FLOAT_DTYPES}")
        entries = sum(math.prod(shape) for shape, _ in stored.values())
        try:
            # the stored weights bound what the architecture may allocate; the slack lets a file
            # that lacks a few weights reach the message that names them
            with parameter_budget(2 * entries + BUDGET_SLACK):
                model = build(meta["architecture"])
        except ParameterBudgetError as err:
            raise ModelFileError(
                f"the architecture needs far more weights than the file stores ({entries} entries): {err}"
            ) from err
        expected = {name: p.shape for name, p in model.named_parameters()}
        missing = sorted(set(expected) - set(stored))
        extra = sorted(set(stored) - set(expected))
        wrong = [
            f"{name}: stored {stored[name][0]}, expected {shape}"
            for name, shape in expected.items()
            if name in stored and tuple(stored[name][0]) != tuple(shape)
        ]
        if missing or extra or wrong:
            raise ModelFileError(
                "weights do not match the architecture: "
                + "; ".join([f"missing {missing}"] * bool(missing) + [f"unknown entries {extra}"] * bool(extra) + wrong)
            )
        for name, p in model.named_parameters():
            p.data = archive.read(f"param:{name}")  # the saved dtype exactly, as a fresh array
    return model


def _check_reloadable(model: Module, architecture: dict[str, Any]) -> None:
    """Raise a ValueError naming the reason when ``load`` would not give back this model."""
    seen: dict[int, str] = {}
    for name, module in model.named_modules():
        if id(module) in seen:
            raise ValueError(
                f"save: the same {type(module).__name__} object sits at {seen[id(module)] or 'the top'!r} "
                f"and at {name!r}; a model file cannot express shared modules, so it would load as two "
                "independent layers. Use separate modules (e.g. module.copy()) before saving"
            )
        seen[id(module)] = name
        if MODULE_TYPES.get(type(module).__name__) is not type(module):
            raise ValueError(
                f"save: module {name or 'the top'!r} is a {type(module).__qualname__}, which is not the "
                f"registered module type of that name; load could not rebuild it"
            )
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
        differ = sorted(
            n for n in set(found) | set(expected) if n not in found or n not in expected or found[n] != expected[n][0]
        )
        raise ValueError(
            f"save: load would rebuild different parameters than the model has (names or shapes "
            f"differ at {differ[:5]}); a module's config() must describe all of its parameters"
        )


def load(path: str | pathlib.Path) -> Module:
    """Read a model written by ``save``: same architecture, bit-identical weights.

    The file is checked before anything is allocated: the architecture JSON (types, known
    modules and constructor arguments, nesting depth), the entries (exactly the metadata and
    one array per parameter), each array's declared shape against its stored size, and the
    architecture's weight count against the stored arrays. Nothing is unpickled. Any damage
    raises ModelFileError naming the file and what is wrong.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no such file {path}")
    try:
        return _load(path)
    except ModelFileError as err:
        raise ModelFileError(f"{path}: {err}") from err
    except backend.ArchiveError as err:
        raise ModelFileError(f"{path}: not a minisensli model file, or a damaged one ({err})") from err
