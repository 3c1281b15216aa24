"""Envoy's own error replies in the runtime's one error shape.

The service's errors reach HTTP clients as google.rpc.Status JSON through the transcoder
(`{"code": <gRPC code>, "message", "details": [ErrorInfo]}`). Envoy answers some requests
itself (no route, undecodable JSON, too large, upstream down); these mappers give those
replies the same shape, with the gRPC code and ErrorInfo reason that mean the HTTP status.
Reasons are documented in proto/openagents/runtime/v1/error_reason.proto.
"""

from __future__ import annotations

import json

ERROR_DOMAIN = "runtime.openagents.dev"

# HTTP status → (gRPC code, ErrorInfo reason, message when Envoy gives none).
LOCAL_REPLIES: dict[int, tuple[int, str, str]] = {
    # The transcoder's text says what it could not decode (`user_id: invalid value ...`).
    400: (3, "MALFORMED_REQUEST", "%LOCAL_REPLY_BODY%"),
    403: (7, "PERMISSION_DENIED", "forbidden"),
    404: (5, "UNKNOWN_ROUTE", "no route for this method and path"),
    405: (12, "UNKNOWN_ROUTE", "method not allowed on this path"),
    408: (4, "MALFORMED_REQUEST", "the request was not received in time"),
    413: (8, "REQUEST_TOO_LARGE", "the request body is over the gateway's limit"),
    414: (8, "HEADERS_TOO_LARGE", "the request URI is over the gateway's limit"),
    429: (8, "RATE_LIMITED", "too many requests"),
    431: (8, "HEADERS_TOO_LARGE", "the request headers are over the gateway's limit"),
    500: (13, "INTERNAL", "internal gateway error"),
    502: (14, "UPSTREAM_UNAVAILABLE", "the runtime answered badly"),
    503: (14, "UPSTREAM_UNAVAILABLE", "the runtime is unreachable"),
    504: (4, "UPSTREAM_UNAVAILABLE", "the runtime did not answer in time"),
}
# Any other local reply (none is known): still the one shape.
FALLBACK = (2, "INTERNAL", "gateway error")


def _body(code: int, reason: str, message: str) -> dict[str, object]:
    return {
        "json_format": {
            "code": code,
            "message": message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": ERROR_DOMAIN,
                    # Envoy's own text (JSON-escaped by json_format), e.g. "Payload Too Large".
                    # Metadata values stay strings (ErrorInfo.metadata is map<string, string>).
                    "metadata": {"problem": "%LOCAL_REPLY_BODY%"},
                }
            ],
        },
        "content_type": "application/json",
    }


def local_reply_mappers(indent: int = 20) -> str:
    """The `local_reply_config.mappers` list as YAML lines (JSON flow style), one per status."""
    mappers: list[dict[str, object]] = []
    for status, (code, reason, message) in sorted(LOCAL_REPLIES.items()):
        comparison = {
            "op": "EQ",
            "value": {"default_value": status, "runtime_key": f"oa_local_reply_{status}"},
        }
        mappers.append(
            {
                "filter": {"status_code_filter": {"comparison": comparison}},
                "body_format_override": _body(code, reason, message),
            }
        )
    # Last: every other local reply (an always-true filter: status >= 0).
    catch_all = {"op": "GE", "value": {"default_value": 0, "runtime_key": "oa_local_reply_any"}}
    mappers.append(
        {
            "filter": {"status_code_filter": {"comparison": catch_all}},
            "body_format_override": _body(*FALLBACK),
        }
    )
    return "\n".join(" " * indent + "- " + json.dumps(m) for m in mappers)
