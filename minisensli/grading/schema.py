"""The schema of grades.json (grades.schema.json beside this module) and a validator for it.

``validate`` uses the jsonschema package when it is installed; otherwise it checks by hand what
``--resume`` relies on (every key it reads, with its type), so a damaged or foreign file is
refused with a message instead of a traceback.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

SCHEMA_PATH = pathlib.Path(__file__).with_name("grades.schema.json")


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _require(condition: bool, where: str) -> None:
    if not condition:
        raise ValueError(f"grades file: {where}")


def validate(book: Any) -> None:
    """Raise ValueError naming the first problem when ``book`` does not follow the schema."""
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        try:
            jsonschema.validate(book, load_schema())
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "top level"
            raise ValueError(f"grades file: {where}: {exc.message[:200]}") from None
        return
    _require(isinstance(book, dict) and book.get("schema") == "minisensli-grades/1", "not minisensli-grades/1")
    _require(isinstance(book.get("students"), list), "students is not a list")
    for i, entry in enumerate(book["students"]):
        _require(isinstance(entry, dict) and isinstance(entry.get("student"), str), f"students/{i}: no name")
        _require(isinstance(entry.get("notebooks"), list), f"students/{i}/notebooks is not a list")
        _require(isinstance(entry.get("exercises"), list), f"students/{i}/exercises is not a list")
        for j, nb in enumerate(entry["notebooks"]):
            _require(
                isinstance(nb, dict)
                and isinstance(nb.get("chapter"), str)
                and nb.get("status") in ("graded", "missing", "error", "timeout")
                and isinstance(nb.get("seconds"), (int, float))
                and isinstance(nb.get("detail"), str)
                and (nb.get("file") is None or isinstance(nb.get("file"), str)),
                f"students/{i}/notebooks/{j} is malformed",
            )
        for j, row in enumerate(entry["exercises"]):
            _require(
                isinstance(row, dict)
                and all(isinstance(row.get(k), str) for k in ("chapter", "exercise", "status", "verdict")),
                f"students/{i}/exercises/{j} is malformed",
            )
