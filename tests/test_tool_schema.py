"""Tool input schemas (oa_runtime.tools.schema): jsonschema Draft 2020-12 with local `$ref`,
asserted formats, and problems that name the failing value's JSON path for the model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from oa_runtime.ports import ToolSpec
from oa_runtime.tools.registry import Tool, ToolRegistry
from oa_runtime.tools.schema import FORMATS, MAX_ERRORS, InputSchema, SchemaError

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
        "mode": {"anyOf": [{"const": "x"}, {"type": "null"}]},
    },
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "ok", "n": 3, "tags": ["a"], "mode": None}, None),
        ({"name": "ok", "n": 3.0}, None),
        ({}, "$.name: is required"),
        ({"name": "OK"}, "$.name: must match"),
        ({"name": "toolong"}, "$.name: must be at most 5 characters"),
        ({"name": "a", "n": True}, "$.n: expected integer"),
        ({"name": "a", "n": 10}, "$.n: must be less than 10"),
        ({"name": "a", "tags": ["c"]}, "$.tags[0]: must be one of"),
        ({"name": "a", "tags": ["a", "a", "b"]}, "$.tags: must have at most 2 items"),
        ({"name": "a", "mode": "y"}, "$.mode: matches none"),
        ({"name": "a", "extra": 1}, "$.extra: is not an allowed property"),
        ([], "$: expected object"),
    ],
)
def test_problems_name_the_failing_value(value: Any, problem: str | None) -> None:
    errors = InputSchema(SCHEMA).problems(value)
    if problem is None:
        assert errors == []
    else:
        assert errors and errors[0].startswith(problem), errors


ORDER: dict[str, Any] = {
    "$defs": {
        "quantity": {"type": "integer", "minimum": 1},
        "line": {
            "type": "object",
            "properties": {"sku": {"$ref": "#/$defs/sku"}, "qty": {"$ref": "#/$defs/quantity"}},
            "required": ["sku", "qty"],
        },
        "sku": {"$anchor": "sku", "type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
    },
    "type": "object",
    "properties": {
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}, "minItems": 1},
        "gift": {"$ref": "#sku"},
    },
}


def test_local_refs_resolve_and_report_the_path_of_the_value() -> None:
    order = InputSchema(ORDER)
    assert order.problems({"lines": [{"sku": "ABC-1", "qty": 2}], "gift": "XYZ-9"}) == []
    assert order.problems({"lines": [{"sku": "ABC-1", "qty": 2}, {"sku": "abc", "qty": 0}]}) == [
        "$.lines[1].sku: must match '^[A-Z]{3}-[0-9]+$'",
        "$.lines[1].qty: must be at least 1",
    ]
    assert order.problems({"lines": [{"qty": 1}], "gift": 5}) == [
        "$.lines[0].sku: is required",
        "$.gift: expected string",
    ]


def test_a_recursive_ref_checks_every_level() -> None:
    tree = InputSchema(
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    },
                    "additionalProperties": False,
                }
            },
            "$ref": "#/$defs/node",
        }
    )
    deep = {"label": "a", "children": [{"label": "b", "children": [{"label": 3, "colour": "red"}]}]}
    assert tree.problems(deep) == [
        "$.children[0].children[0].label: expected string",
        "$.children[0].children[0].colour: is not an allowed property",
    ]


def test_refs_that_do_not_resolve_inside_the_schema_are_refused_when_the_tool_is_made() -> None:
    with pytest.raises(SchemaError, match=r"\$ref '#/\$defs/nowhere' does not resolve"):
        InputSchema({"type": "object", "properties": {"a": {"$ref": "#/$defs/nowhere"}}})
    with pytest.raises(SchemaError, match="does not resolve"):  # behind another $ref
        InputSchema({"$defs": {"a": {"items": {"$ref": "#/$defs/b"}}}, "$ref": "#/$defs/a"})


@pytest.fixture
def schema_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that would serve a valid schema to anyone who asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_remote_ref_is_refused_and_never_fetched(schema_server: tuple[str, list[str]]) -> None:
    base, asked = schema_server
    with pytest.raises(SchemaError, match="does not resolve within the schema"):
        InputSchema({"type": "object", "properties": {"a": {"$ref": f"{base}/string.json"}}})
    assert asked == []


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2026-11-29T23:15:00Z", "yesterday at noon"),
        ("date-time", "2026-11-29T23:15:00.5+01:00", "2026-11-29 23:15"),
        ("date", "2026-02-28", "2026-02-30"),
        ("time", "23:15:00Z", "25:00:00Z"),
        ("email", "ada@example.com", "ada.example.com"),
        ("uuid", "6f1c2a38-2d55-4c4e-9a53-6a1f2f1b8d10", "6f1c2a38"),
        ("ipv4", "127.0.0.1", "127.0.0.256"),
        ("ipv6", "::1", "::g"),
        ("regex", "^a+$", "(unclosed"),
    ],
)
def test_formats_are_asserted(fmt: str, good: str, bad: str) -> None:
    assert fmt in FORMATS
    checked = InputSchema({"type": "object", "properties": {"at": {"type": "string", "format": fmt}}})
    assert checked.problems({"at": good}) == []
    assert checked.problems({"at": bad}) == [f"$.at: must be a valid {fmt}"]


def test_a_format_without_a_checker_is_an_annotation() -> None:
    assert "x-colour" not in FORMATS
    assert InputSchema({"type": "string", "format": "x-colour"}).problems("anything") == []


def test_unknown_keywords_and_invalid_schemas_are_refused() -> None:
    with pytest.raises(SchemaError, match="unsupported keyword 'require'"):
        InputSchema({"type": "object", "properties": {"a": {"type": "string"}}, "require": ["a"]})
    with pytest.raises(SchemaError, match="unsupported keyword 'minimun'"):  # a typo deep inside
        InputSchema({"$defs": {"n": {"type": "integer", "minimun": 1}}, "$ref": "#/$defs/n"})
    with pytest.raises(SchemaError, match=r"\$dynamicRef"):
        InputSchema({"$dynamicRef": "#meta"})
    with pytest.raises(SchemaError, match="#/type"):
        InputSchema({"type": "thing"})
    with pytest.raises(SchemaError, match="#/properties/a/pattern"):
        InputSchema({"properties": {"a": {"pattern": "(unclosed"}}})
    with pytest.raises(SchemaError, match="object or a boolean"):
        InputSchema([{"type": "string"}])


def test_odd_names_are_quoted_and_problems_are_capped() -> None:
    strict = InputSchema({"type": "object", "additionalProperties": False, "required": ["first name"]})
    assert strict.problems({"it's": 1}) == [  # in the schema's keyword order
        "$['it\\'s']: is not an allowed property",
        "$['first name']: is required",
    ]
    assert InputSchema(False).problems(1) == ["$: no value is allowed here"]
    many = InputSchema({"type": "array", "items": {"type": "string"}})
    assert many.problems(list(range(20))) == [f"$[{i}]: expected string" for i in range(MAX_ERRORS)]


def test_a_tool_compiles_its_schema_when_it_is_made() -> None:
    spec = ToolSpec("order", "Places an order.", ORDER)
    tool = Tool(spec)
    assert ToolRegistry([tool]).get("order") is tool  # the registry keeps the compiled tool
    assert tool.input.problems({"lines": []}) == ["$.lines: must have at least 1 items"]
    with pytest.raises(SchemaError, match=r"tool 'broken' input_schema: \$ref '#/nope'"):
        Tool(ToolSpec("broken", "", {"$ref": "#/nope"}))
