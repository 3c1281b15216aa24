"""Remote HTTP tools: the runtime POSTs a call to a configured URL (so Laravel can host tools).

Request: `POST <url>` with JSON `{runId, threadId, toolCallId, name, input, attempt}` and
headers `X-OA-RUNTIME-SIGNATURE` (a service token minted with the runtime's default
signing key, claims `run_id` and `thread_id`), `X-OA-RUNTIME-KEY-ID`, and
`Idempotency-Key: <runId>/<toolCallId>` (the same for every attempt, so a host can
drop a retried duplicate), and `traceparent` when tracing is on.

Response: 2xx `{"output": <json>}`; or `{"error": "<text>"}` (any status), which the model
sees. 429, 5xx and connection failures are retryable (retried only when the tool is
declared idempotent); other 4xx are not. The engine's per-tool timeout bounds the call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..auth.token import Keyring, mint_token
from ..observability import tracing
from ..ports import ToolSpec
from .registry import Tool, ToolContext, ToolFailed

SIGNATURE_HEADER = "X-OA-RUNTIME-SIGNATURE"
KEY_ID_HEADER = "X-OA-RUNTIME-KEY-ID"
TOKEN_TTL_S = 60
_CONNECT_TIMEOUT_S = 10.0
_FIELDS = frozenset(
    {
        "name",
        "url",
        "description",
        "input_schema",
        "version",
        "timeout_s",
        "max_attempts",
        "idempotent",
        "guest_safe",
        "requires_approval",
        "approval_timeout_s",
    }
)


def remote_tool(config: Mapping[str, Any], keyring: Keyring) -> Tool:
    """A Tool that calls the configured URL. ValueError for a bad configuration."""
    unknown = set(config) - _FIELDS
    if unknown:
        raise ValueError(f"remote tool {config.get('name')!r}: unknown fields {sorted(unknown)}")
    name, url = config.get("name"), config.get("url")
    if not isinstance(name, str) or not name:
        raise ValueError("a remote tool needs a name")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"remote tool {name!r}: url must be http(s)")
    schema = config.get("input_schema", {"type": "object"})
    spec = ToolSpec(name, str(config.get("description", "")), schema)

    async def call(args: dict[str, Any], ctx: ToolContext) -> Any:
        return await _post(url, name, keyring, args, ctx)

    return Tool(
        spec,
        call,
        version=str(config.get("version", "1")),
        idempotent=bool(config.get("idempotent", False)),
        timeout_s=_optional_float(config, "timeout_s"),
        max_attempts=int(config["max_attempts"]) if "max_attempts" in config else None,
        guest_safe=bool(config.get("guest_safe", False)),
        requires_approval=bool(config.get("requires_approval", False)),
        approval_timeout_s=_optional_float(config, "approval_timeout_s"),
    )


def _optional_float(config: Mapping[str, Any], key: str) -> float | None:
    return float(config[key]) if config.get(key) is not None else None


async def _post(url: str, name: str, keyring: Keyring, args: dict[str, Any], ctx: ToolContext) -> Any:
    token = mint_token(
        keyring.secret_for(None),
        ttl_s=TOKEN_TTL_S,
        now=time.time(),
        run_id=ctx.run_id,
        thread_id=ctx.thread_id,
    )
    headers = {
        SIGNATURE_HEADER: token,
        KEY_ID_HEADER: keyring.default_key_id,
        "Idempotency-Key": f"{ctx.run_id}/{ctx.tool_call_id}",
    }
    tracing.inject_traceparent(headers)  # the tool call's span continues at the tool's host
    body = {
        "runId": ctx.run_id,
        "threadId": ctx.thread_id,
        "toolCallId": ctx.tool_call_id,
        "name": name,
        "input": args,
        "attempt": ctx.attempt,
    }
    # One client per call: tool calls are rare next to model tokens, and nothing must
    # outlive the run task that is cancelled on CancelRun. The engine's timeout bounds reads.
    timeout = httpx.Timeout(None, connect=_CONNECT_TIMEOUT_S)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, json=body, headers=headers)
    except httpx.TransportError as exc:
        raise ToolFailed(
            f"remote tool {name!r} is unreachable: {type(exc).__name__}",
            error_class="remote_unavailable",
            retryable=True,
        ) from exc
    status = response.status_code
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "error" in doc:
        error = doc["error"]
        text = error.get("message") if isinstance(error, dict) else error
        raise ToolFailed(
            str(text or "remote tool failed"),
            error_class=f"remote_http_{status}" if status >= 400 else "remote_error",
            retryable=status == 429 or status >= 500,
        )
    if status == 429 or status >= 500:
        raise ToolFailed(
            f"remote tool {name!r} answered {status}", error_class=f"remote_http_{status}", retryable=True
        )
    if status >= 400 or not isinstance(doc, dict) or "output" not in doc:
        raise ToolFailed(
            f"remote tool {name!r} answered {status} without an output",
            error_class=f"remote_http_{status}" if status >= 400 else "remote_bad_response",
        )
    return doc["output"]
