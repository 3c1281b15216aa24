"""A small JSON-schema validator for tool arguments (no dependency: `jsonschema` is not installed).

Supported keywords: type (one or a list), properties, required, additionalProperties
(bool or schema), enum, const, items (one schema), minItems, maxItems, minimum, maximum,
exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, anyOf, oneOf, allOf.
Annotations are accepted and ignored: title, description, default, examples, format,
$schema, $id, $comment, deprecated, readOnly, writeOnly. Anything else (for example $ref)
makes `check_schema` fail, so a tool declaring a keyword this validator would silently
skip is refused at registration instead of letting unchecked arguments through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "format", "$schema", "$id", "$comment", "deprecated"}
    | {"readOnly", "writeOnly"}
)
_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "enum", "const", "items"}
    | {"minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    | {"minLength", "maxLength", "pattern", "anyOf", "oneOf", "allOf"}
)
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
MAX_ERRORS = 5


class SchemaError(ValueError):
    """A tool's declared schema uses something this validator does not support."""


def check_schema(schema: Any, path: str = "#") -> None:
    """Raises SchemaError unless every keyword of `schema` is supported."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise SchemaError(f"{path}: a schema must be an object or a boolean")
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _KEYWORDS:
            raise SchemaError(f"{path}: unsupported keyword {key!r}")
        if key == "type":
            names = value if isinstance(value, list) else [value]
            if not names or any(n not in _TYPES for n in names):
                raise SchemaError(f"{path}/type: unknown type {value!r}")
        elif key == "properties":
            if not isinstance(value, Mapping):
                raise SchemaError(f"{path}/properties: must be an object")
            for name, sub in value.items():
                check_schema(sub, f"{path}/properties/{name}")
        elif key in ("additionalProperties", "items"):
            check_schema(value, f"{path}/{key}")
        elif key in ("anyOf", "oneOf", "allOf"):
            if not isinstance(value, list) or not value:
                raise SchemaError(f"{path}/{key}: must be a non-empty array")
            for i, sub in enumerate(value):
                check_schema(sub, f"{path}/{key}/{i}")
        elif key == "required":
            if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                raise SchemaError(f"{path}/required: must be an array of strings")
        elif key == "enum" and not isinstance(value, list):
            raise SchemaError(f"{path}/enum: must be an array")
        elif key == "pattern":
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                raise SchemaError(f"{path}/pattern: {exc}") from exc


def validate(instance: Any, schema: Any) -> list[str]:
    """The problems of `instance` against `schema` ([] when valid), at most MAX_ERRORS."""
    errors: list[str] = []
    _validate(instance, schema, "$", errors)
    return errors[:MAX_ERRORS]


def _type_ok(value: Any, name: str) -> bool:
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
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if name == "integer":
        return isinstance(value, int) or (math.isfinite(value) and value == int(value))
    return True  # number


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, 1 equals 1.0.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _validate(value: Any, schema: Any, path: str, errors: list[str]) -> None:
    if len(errors) >= MAX_ERRORS:
        return
    if schema is True:
        return
    if schema is False:
        errors.append(f"{path}: no value is allowed here")
        return
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_type_ok(value, n) for n in names):
            errors.append(f"{path}: expected {' or '.join(names)}")
            return
    if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
        errors.append(f"{path}: must be one of {schema['enum']!r}")
    if "const" in schema and not _equal(value, schema["const"]):
        errors.append(f"{path}: must be {schema['const']!r}")
    if isinstance(value, dict):
        _validate_object(value, schema, path, errors)
    elif isinstance(value, list):
        _validate_array(value, schema, path, errors)
    elif isinstance(value, str):
        _validate_string(value, schema, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(value, schema, path, errors)
    _validate_combinators(value, schema, path, errors)


def _validate_object(value: dict[str, Any], schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(f"{path}.{name}: is required")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _validate(item, properties[name], f"{path}.{name}", errors)
        elif extra is False:
            errors.append(f"{path}.{name}: is not an allowed property")
        elif extra is not True:
            _validate(item, extra, f"{path}.{name}", errors)


def _validate_array(value: list[Any], schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: must have at most {schema['maxItems']} items")
    if "items" in schema:
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{i}]", errors)


def _validate_string(value: str, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: must be at most {schema['maxLength']} characters")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        errors.append(f"{path}: must match {schema['pattern']!r}")


def _validate_number(value: float, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: must be at most {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{path}: must be greater than {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        errors.append(f"{path}: must be less than {schema['exclusiveMaximum']}")


def _validate_combinators(value: Any, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    for sub in schema.get("allOf", ()):
        _validate(value, sub, path, errors)
    if "anyOf" in schema and not any(not validate(value, sub) for sub in schema["anyOf"]):
        errors.append(f"{path}: matches none of the allowed shapes")
    if "oneOf" in schema:
        matches = sum(1 for sub in schema["oneOf"] if not validate(value, sub))
        if matches != 1:
            errors.append(f"{path}: must match exactly one allowed shape, matches {matches}")
