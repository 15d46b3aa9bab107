"""ARCHITECTURE.md stays current: its table of public names matches the packages' __all__ and the
modules that define them, and every file it names exists."""

import importlib
import inspect
import pathlib
import re
import types

ROOT = pathlib.Path(__file__).parents[1]
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
ALIASES = {
    "ms": "minisensli",
    "F": "minisensli.functional",
    "nn": "minisensli.nn",
    "optim": "minisensli.optim",
    "data": "minisensli.data",
    "sensli": "minisensli.sensli",
    "experiments": "minisensli.experiments",
    "formats": "minisensli.formats",
    "exercises": "minisensli.exercises",
}
TABLE_ROW = re.compile(r"^\| (`[^|]+`)(?: \([^|]*\))? \| `(minisensli/[\w/]+\.py)` \|$", re.MULTILINE)


def table() -> dict[str, str]:
    """'alias.name' -> the module path its row names."""
    rows = {}
    for names, path in TABLE_ROW.findall(ARCHITECTURE):
        for name in re.findall(r"`([^`]+)`", names):
            assert name not in rows, f"{name} appears twice in the table"
            rows[name] = path
    return rows


def public_names(alias: str) -> set[str]:
    package = importlib.import_module(ALIASES[alias])
    return {
        f"{alias}.{name}"
        for name in package.__all__
        if name != "__version__" and not isinstance(getattr(package, name), types.ModuleType)
    }


def test_table_lists_every_public_name():
    listed = set(table())
    missing = sorted(set().union(*(public_names(alias) for alias in ALIASES)) - listed)
    assert not missing, f"ARCHITECTURE.md does not say where these live: {missing}"


def is_defined_here(obj: object, attribute: str) -> bool:
    """A class or function under its own name (not an alias such as nn.Residual)."""
    return (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__name__ == attribute.split(".")[-1]


def test_table_names_the_module_that_defines_each_name():
    wrong = []
    for name, path in table().items():
        alias, attribute = name.split(".", 1)
        assert alias in ALIASES, f"{name}: unknown prefix {alias!r}"
        obj = getattr(importlib.import_module(ALIASES[alias]), attribute)
        module_name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        module = importlib.import_module(module_name)
        if getattr(module, attribute.split(".")[-1], None) is not obj:
            wrong.append(f"{name}: not found in {path}")
        elif is_defined_here(obj, attribute) and obj.__module__ != module_name:
            wrong.append(f"{name}: defined in {obj.__module__}, the table says {path}")
    assert not wrong, "\n".join(wrong)


def test_every_file_it_names_exists():
    paths = set(re.findall(r"`((?:minisensli|tests|book|notebooks)/[\w./*-]+)`", ARCHITECTURE))
    paths |= {
        f"minisensli/{p}"
        for p in re.findall(r"`((?:formats|experiments|sensli|data|nn|optim|ops)/[\w.]+\.py)`", ARCHITECTURE)
    }
    missing = [p for p in sorted(paths) if "*" not in p and "<" not in p and not (ROOT / p).exists()]
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {missing}"
