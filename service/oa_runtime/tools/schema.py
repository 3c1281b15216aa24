"""Tool arguments checked against the tool's JSON schema, with `jsonschema` (Draft 2020-12).

An `InputSchema` is compiled once per tool (when the `Tool` is made) and checks every call.

- `$ref` resolves within the schema only (`#/$defs/...`, `#/definitions/...`, anchors): the
  validator's registry is empty and retrieves nothing, so a tool schema never makes the
  runtime fetch a URL. A `$ref` that does not resolve is refused when the tool is made, not
  discovered on a call. (`$dynamicRef` is refused: no tool input needs it.)
- `format` is asserted for the formats in `FORMATS` (date-time and time through
  rfc3339-validator, date, email, ipv4, ipv6, uuid, regex, ...); any other format is an
  annotation, as the specification says.
- A keyword that is not Draft 2020-12 (a typo such as "require") is refused too: a check its
  author meant must not be skipped silently.

A failed check reaches the model as `invalid_input`: each problem names the failing value by
its JSON path ("$.tags[0]: must be one of ['a', 'b']"), at most MAX_ERRORS of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import jsonschema
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing does not re-export the class

MAX_ERRORS: Final = 5
FORMATS: Final = frozenset(Draft202012Validator.FORMAT_CHECKER.checkers)

# Keywords that check nothing themselves (identifiers, containers, annotations); `then`/`else`
# are applied by `if`, `definitions` is the pre-2019 name of `$defs` that `$ref`s still use.
_NON_ASSERTING: Final = frozenset(
    {"$schema", "$id", "$anchor", "$dynamicAnchor", "$defs", "definitions", "$comment", "$vocabulary"}
    | {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
    | {"contentEncoding", "contentMediaType", "contentSchema", "then", "else"}
)
_KNOWN: Final = (frozenset(Draft202012Validator.VALIDATORS) - {"$dynamicRef"}) | _NON_ASSERTING
_PLAIN_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # as jsonschema's ValidationError.json_path


class SchemaError(ValueError):
    """A tool's declared schema is not one the runtime can check arguments against."""


class InputSchema:
    """One tool's input schema, checked and compiled once."""

    __slots__ = ("_validator",)

    def __init__(self, schema: Any) -> None:
        if not isinstance(schema, Mapping | bool):
            raise SchemaError("a schema must be an object or a boolean")
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise SchemaError(f"{_pointer(exc.absolute_path)}: {exc.message}") from exc
        root = DRAFT202012.create_resource(schema)
        _audit(root, referencing.Registry().resolver_with_root(root), set())
        self._validator = Draft202012Validator(
            schema, registry=referencing.Registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def problems(self, instance: Any) -> list[str]:
        """What is wrong with `instance` ([] when it is valid), at most MAX_ERRORS."""
        found: list[str] = []
        for error in self._validator.iter_errors(instance):
            found.extend(_phrased(error))
            if len(found) >= MAX_ERRORS:
                break
        return found[:MAX_ERRORS]


def _audit(resource: referencing.Resource[Any], resolver: Resolver[Any], seen: set[int]) -> None:
    """Refuses unknown keywords and `$ref`s that do not resolve, in every reachable subschema."""
    contents = resource.contents
    if isinstance(contents, bool) or id(contents) in seen:
        return
    seen.add(id(contents))
    unknown = sorted(set(contents) - _KNOWN)
    if unknown:
        raise SchemaError(f"unsupported keyword {unknown[0]!r} in {_short(contents)}")
    if "$ref" in contents:
        try:
            target = resolver.lookup(contents["$ref"])
        except referencing.exceptions.Unresolvable as exc:
            raise SchemaError(f"$ref {contents['$ref']!r} does not resolve within the schema") from exc
        _audit(DRAFT202012.create_resource(target.contents), target.resolver, seen)
    for sub in resource.subresources():
        _audit(sub, resolver.in_subresource(sub), seen)


def _phrased(error: jsonschema.ValidationError) -> Iterator[str]:
    """The problems one jsonschema error stands for, phrased for the model."""
    path, keyword = error.json_path, error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if keyword is None:  # the schema `false`
        yield f"{path}: no value is allowed here"
    elif keyword == "required":  # reported at the object; the model wants the missing field
        yield from (f"{_child(path, name)}: is required" for name in expected if name not in value)
    elif keyword == "additionalProperties" and expected is False:
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        declared, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
        for name in value:
            if name not in declared and not any(re.search(p, name) for p in patterns):
                yield f"{_child(path, name)}: is not an allowed property"
    elif keyword == "type" and isinstance(expected, list):
        yield f"{path}: expected {' or '.join(expected)}"
    elif keyword in _MESSAGES:
        yield f"{path}: {_short(_MESSAGES[keyword].format(expected))}"
    else:
        yield f"{path}: {_short(error.message)}"


# What the model reads for each failed keyword; {} is the keyword's value in the schema.
_MESSAGES: Final = {
    "type": "expected {}",
    "enum": "must be one of {!r}",
    "const": "must be {!r}",
    "format": "must be a valid {}",
    "minLength": "must be at least {} characters",
    "maxLength": "must be at most {} characters",
    "pattern": "must match {!r}",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
    "anyOf": "matches none of the allowed shapes",
    "oneOf": "must match exactly one allowed shape",
}


def _child(path: str, name: str) -> str:
    if _PLAIN_NAME.match(name):
        return f"{path}.{name}"
    return "{}['{}']".format(path, name.replace("\\", "\\\\").replace("'", "\\'"))


def _pointer(parts: Any) -> str:
    return "#" + "".join(f"/{part}" for part in parts)


def _short(text: Any, limit: int = 200) -> str:
    """Reported texts can quote the whole value or schema: cut them to a line."""
    shown = str(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
