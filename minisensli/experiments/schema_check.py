"""A small validator for the JSON Schema subset that results.schema.json uses.

results.schema.json is the one description of a results document; this module checks a parsed
document against it, so that a change to the schema file changes what is accepted. The
keywords understood are those the file uses: type (one name or a list), const, enum, required,
properties, additionalProperties (true/false or a schema), items, minItems, maxItems, minimum,
maximum, maxLength, $ref to "#/$defs/NAME", description and title (ignored). A keyword it
does not know raises SchemaError when the schema is loaded, never passes silently.

Type rules follow JSON Schema, a little stricter: "integer" is a number written without a fraction
or exponent (a Python int, not a bool; JSON Schema would also take 3.0, which the readers would
then use as an index), "number" any int or float but not a bool, "null" is None.

On top of the schema every string may have at most ``max_string`` characters and every array at
most ``max_items`` entries (a document is data from a file: bounds keep what it can make the
reader and the figures do proportional to its size). The first violation found is reported with
its path inside the document, e.g. ``runs[3].insertions[0].scores: expected an array``.
"""

from __future__ import annotations

import math
from typing import Any

KNOWN_KEYWORDS = {
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "maxLength",
}
TYPE_NAMES = ("object", "array", "string", "integer", "number", "boolean", "null")


class SchemaError(ValueError):
    """The schema itself uses something this validator does not understand."""


class DocumentError(ValueError):
    """A document does not match the schema; ``path`` says where (e.g. 'runs[2].seed')."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or 'the document'}: {message}")
        self.path = path


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if name == "integer":
        return isinstance(value, int)
    return True  # number


class Validator:
    """Checks documents against one schema (a dict parsed from a JSON Schema file)."""

    def __init__(self, schema: dict[str, Any], max_string: int = 10_000, max_items: int = 100_000_000) -> None:
        self.schema = schema
        self.definitions = schema.get("$defs", {})
        self.max_string, self.max_items = max_string, max_items
        self._check_schema(schema, "#")

    def _check_schema(self, node: Any, where: str) -> None:
        if not isinstance(node, dict):
            if isinstance(node, bool):
                return
            raise SchemaError(f"{where}: a schema must be an object, got {_shown(node)}")
        unknown = set(node) - KNOWN_KEYWORDS
        if unknown:
            raise SchemaError(f"{where}: keywords {sorted(unknown)} are not understood by this validator")
        types = node.get("type", [])
        for name in [types] if isinstance(types, str) else types:
            if name not in TYPE_NAMES:
                raise SchemaError(f"{where}: unknown type {name!r}")
        ref = node.get("$ref")
        if ref is not None and (not ref.startswith("#/$defs/") or ref[len("#/$defs/") :] not in self.definitions):
            raise SchemaError(f"{where}: $ref {ref!r} does not name an entry of $defs")
        for key, sub in node.get("properties", {}).items():
            self._check_schema(sub, f"{where}/properties/{key}")
        for key in ("items", "additionalProperties"):
            if key in node:
                self._check_schema(node[key], f"{where}/{key}")
        for key, sub in node.get("$defs", {}).items():
            self._check_schema(sub, f"{where}/$defs/{key}")

    def validate(self, document: Any) -> None:
        """Raise DocumentError at the first place where ``document`` breaks the schema or a bound."""
        self._validate(document, self.schema, "")

    def validate_definition(self, name: str, document: Any, path: str = "") -> None:
        """Raise DocumentError unless ``document`` matches the schema's ``$defs/name``."""
        self._validate(document, self.definitions[name], path)

    def _validate(self, value: Any, node: Any, path: str) -> None:  # noqa: C901 - one branch per keyword
        if node is True:
            return
        if node is False:
            raise DocumentError(path, "is not allowed here")
        if "$ref" in node:
            self._validate(value, self.definitions[node["$ref"][len("#/$defs/") :]], path)
        if "type" in node:
            types = [node["type"]] if isinstance(node["type"], str) else node["type"]
            if not any(_is_type(value, t) for t in types):
                raise DocumentError(path, f"expected {' or '.join(types)}, got {_shown(value)}")
        if "const" in node and not _same(value, node["const"]):
            raise DocumentError(path, f"expected {node['const']!r}, got {_shown(value)}")
        if "enum" in node and not any(_same(value, allowed) for allowed in node["enum"]):
            raise DocumentError(path, f"{_shown(value)} is not one of {node['enum']}")
        if isinstance(value, str):
            limit = min(node.get("maxLength", self.max_string), self.max_string)
            if len(value) > limit:
                raise DocumentError(path, f"a string of {len(value)} characters; at most {limit} are allowed")
        elif _is_type(value, "number"):
            if not math.isfinite(value):
                raise DocumentError(path, f"{value} is not a finite number")
            if "minimum" in node and value < node["minimum"]:
                raise DocumentError(path, f"{value} is below the minimum {node['minimum']}")
            if "maximum" in node and value > node["maximum"]:
                raise DocumentError(path, f"{value} is above the maximum {node['maximum']}")
        elif isinstance(value, list):
            self._validate_array(value, node, path)
        elif isinstance(value, dict):
            self._validate_object(value, node, path)

    def _validate_array(self, value: list[Any], node: dict[str, Any], path: str) -> None:
        limit = min(node.get("maxItems", self.max_items), self.max_items)
        if len(value) > limit:
            raise DocumentError(path, f"{len(value)} entries; at most {limit} are allowed")
        if len(value) < node.get("minItems", 0):
            raise DocumentError(path, f"{len(value)} entries; at least {node['minItems']} are needed")
        items = node.get("items")
        if items is None:
            return
        fast = _plain_type(items, self.definitions)
        if fast is not None and _all_numbers(value, fast):
            return
        for i, item in enumerate(value):
            if fast is None or not _fast_ok(item, fast):  # long lists of numbers: no call per entry
                self._validate(item, items, f"{path}[{i}]")

    def _validate_object(self, value: dict[str, Any], node: dict[str, Any], path: str) -> None:
        for key in node.get("required", []):
            if key not in value:
                raise DocumentError(path, f"lacks the required key {key!r}")
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if len(key) > self.max_string:
                raise DocumentError(path, f"a key of {len(key)} characters; at most {self.max_string} are allowed")
            if key in properties:
                self._validate(item, properties[key], where)
            else:
                self._validate(item, extra, where)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _plain_type(node: Any, definitions: dict[str, Any]) -> tuple[str, ...] | None:
    """The allowed types of an item schema that says nothing but 'type' (after $ref), else None."""
    while isinstance(node, dict) and set(node) == {"$ref"}:
        node = definitions[node["$ref"][len("#/$defs/") :]]
    if not isinstance(node, dict) or set(node) - {"type", "description"} or "type" not in node:
        return None
    types = node["type"]
    return (types,) if isinstance(types, str) else tuple(types)


def _all_numbers(values: list[Any], types: tuple[str, ...]) -> bool:
    """True when every entry is an int (or, for "number", a float) and all are finite, checked in C
    loops (a results file holds millions of losses); False means: look at each entry."""
    kinds = set(map(type, values))
    if "number" in types:
        allowed = {int, float}
    elif "integer" in types:
        allowed = {int}
    else:
        return False
    if not kinds <= allowed:
        return False
    return float not in kinds or math.isfinite(sum(values))  # nan or inf anywhere makes the sum so


def _fast_ok(value: Any, types: tuple[str, ...]) -> bool:
    if value is None:
        return "null" in types
    if type(value) is float:
        return "number" in types and math.isfinite(value)
    if type(value) is int:
        return "number" in types or "integer" in types
    return False  # anything else: the full check says what is wrong
