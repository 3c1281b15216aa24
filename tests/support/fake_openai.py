"""A fake OpenAI chat-completions server: real HTTP/1.1 on loopback, real SSE wire format.

It stands where a real LLM endpoint would, so the provider under test runs its
real SDK, HTTP client and SSE parser. Each test scripts a queue of scenarios;
each POST /v1/chat/completions takes the next one. Requests are recorded so
tests can assert what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .http11 import read_request

Choice = dict[str, Any]  # one `choices[0]` of a chunk: {"index", "delta", "finish_reason"}


@dataclass
class Scenario:
    """How the fake answers one request."""

    choices: list[Choice] = field(default_factory=list)  # streamed as chunks, in order
    status: int = 200
    error: dict[str, Any] | None = None  # the JSON error body of a non-200 answer
    headers: dict[str, str] = field(default_factory=dict)
    chunk_delay: float = 0.0  # seconds before each chunk
    disconnect_after: int | None = None  # close the socket after this many chunks
    stall_after: int | None = None  # after this many chunks, send nothing until the client leaves
    send_done: bool = True  # end with `data: [DONE]`
    # Sent as a last chunk with no choices, as OpenAI does when asked (stream_options.include_usage).
    usage: dict[str, int] | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> Choice:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def text_reply(*pieces: str, finish_reason: str = "stop") -> Scenario:
    """Streams `pieces` as content deltas, like OpenAI: a role chunk first, an empty finish chunk last."""
    choices = [_choice({"role": "assistant", "content": "", "refusal": None})]
    choices += [_choice({"content": piece}) for piece in pieces]
    choices.append(_choice({}, finish_reason))
    return Scenario(choices=choices)


def tool_call_reply(*calls: tuple[str, str, str], pieces: int = 3, text: str = "") -> Scenario:
    """Streams tool calls given as (call_id, name, arguments_json), each call's
    arguments split into `pieces` fragments, then finish_reason "tool_calls"."""
    choices = [_choice({"role": "assistant", "content": text or None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        choices.append(_choice({"tool_calls": [head]}))
        size = max(1, -(-len(arguments) // pieces))
        for start in range(0, len(arguments), size):
            fragment = {"index": index, "function": {"arguments": arguments[start : start + size]}}
            choices.append(_choice({"tool_calls": [fragment]}))
    choices.append(_choice({}, "tool_calls"))
    return Scenario(choices=choices)


def http_error(status: int, message: str = "fake failure", retry_after: str | None = None) -> Scenario:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return Scenario(
        status=status,
        error={"error": {"message": message, "type": kind, "param": None, "code": kind}},
        headers=headers,
    )


class FakeOpenAI:
    """The server. Use `async with serve_fake_openai() as fake:`; `fake.base_url` is the SDK's base_url."""

    def __init__(self) -> None:
        self.scenarios: deque[Scenario] = deque()
        self.requests: list[ReceivedRequest] = []
        self.client_disconnects = 0  # clients that left while a stream was still open
        self.client_left = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def script(self, *scenarios: Scenario) -> None:
        self.scenarios.extend(scenarios)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._serve_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answers one request; False when the connection is done."""
        request = await read_request(reader)
        if request is None:
            return False
        method, path, headers = request.method, request.path, request.headers
        body = json.loads(request.body) if request.body else {}
        self.requests.append(ReceivedRequest(method, path, headers, body))

        if (method, path) != ("POST", "/v1/chat/completions"):
            await _send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}}, {})
            return True
        if not self.scenarios:
            await _send_json(writer, 500, {"error": {"message": "the test scripted no more answers"}}, {})
            return True
        scenario = self.scenarios.popleft()
        if scenario.status != 200:
            await _send_json(writer, scenario.status, scenario.error or {}, scenario.headers)
            return True
        return await self._stream(scenario, str(body.get("model", "")), reader, writer)

    async def _stream(
        self, scenario: Scenario, model: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        created = int(time.time())
        for sent, choice in enumerate(scenario.choices):
            if sent == scenario.disconnect_after:
                await writer.drain()
                return False  # the caller closes the socket mid-body
            if sent == scenario.stall_after:
                await writer.drain()
                await self._await_client_leaving(reader)
                return False
            if scenario.chunk_delay:
                await asyncio.sleep(scenario.chunk_delay)
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [choice],
            }
            _write_chunk(writer, f"data: {json.dumps(chunk)}\n\n".encode())
            try:
                await writer.drain()
            except ConnectionError:
                self._note_client_left()
                return False
        if scenario.usage is not None:
            usage = {**scenario.usage, "total_tokens": sum(scenario.usage.values())}
            last = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            }
            _write_chunk(writer, f"data: {json.dumps({**last, 'choices': [], 'usage': usage})}\n\n".encode())
        if scenario.send_done:
            _write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _await_client_leaving(self, reader: asyncio.StreamReader) -> None:
        # A client that stopped reading closes its socket; we see EOF. The bound
        # only keeps a broken test from hanging.
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(30):
                while await reader.read(1024):
                    pass
                self._note_client_left()

    def _note_client_left(self) -> None:
        self.client_disconnects += 1
        self.client_left.set()


def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


async def _send_json(
    writer: asyncio.StreamWriter, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    payload = json.dumps(body).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"HTTP/1.1 {status} Fake\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n{extra}\r\n".encode()
        + payload
    )
    await writer.drain()


@contextlib.asynccontextmanager
async def serve_fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
