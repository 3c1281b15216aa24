"""The ModelProvider contract, run against every provider.

Each harness knows how to make its provider say a text, call a tool, continue
after a tool result and fail; the assertions are the same for all of them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Protocol

import pytest
from oa_runtime.core.events import STEP_STOP, STEP_TOOL_CALLS
from oa_runtime.core.messages import ChatMessage, ToolCall
from oa_runtime.models import RetryingProvider, ScriptedProvider
from oa_runtime.models.openai_compat import OpenAICompatProvider
from oa_runtime.ports import (
    FinishChunk,
    ModelChunk,
    ModelError,
    ModelProvider,
    ModelRequest,
    TextChunk,
    ToolCallChunk,
    ToolSpec,
)

from tests.support.fake_openai import FakeOpenAI, http_error, serve_fake_openai, text_reply, tool_call_reply

LOOKUP = ToolSpec(
    "lookup", "Looks a word up.", {"type": "object", "properties": {"word": {"type": "string"}}}
)


class Harness(Protocol):
    provider: ModelProvider
    model: str

    def saying(self, words: list[str]) -> ModelRequest: ...

    def calling_tool(self, name: str, arguments: dict[str, object]) -> ModelRequest: ...

    def continuing_after_tool(self, words: list[str]) -> ModelRequest: ...

    def failing(self) -> ModelRequest: ...


def _request(model: str, *messages: ChatMessage, step: int = 1) -> ModelRequest:
    return ModelRequest(run_id="run-1", model=model, step=step, messages=messages, tools=(LOOKUP,))


def _after_tool_call(prompt: str) -> tuple[ChatMessage, ...]:
    call = ToolCall("call_1_0", "lookup", '{"word": "x"}')
    return (
        ChatMessage("user", prompt),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"meaning": "y"}', tool_call_id=call.id),
    )


class ScriptedHarness:
    model = "scripted"

    def __init__(self) -> None:
        self.provider: ModelProvider = ScriptedProvider()

    def saying(self, words: list[str]) -> ModelRequest:
        return _request(self.model, ChatMessage("user", "/say " + "".join(words)))

    def calling_tool(self, name: str, arguments: dict[str, object]) -> ModelRequest:
        return _request(self.model, ChatMessage("user", f"/tool {name} {json.dumps(arguments)}"))

    def continuing_after_tool(self, words: list[str]) -> ModelRequest:
        prompt = '/tool lookup {"word": "x"}\n/say ' + "".join(words)
        return _request(self.model, *_after_tool_call(prompt), step=2)

    def failing(self) -> ModelRequest:
        return _request(self.model, ChatMessage("user", "/fail the model refused"))


class OpenAIHarness:
    model = "gpt-fake"

    def __init__(self, fake: FakeOpenAI, provider: ModelProvider) -> None:
        self.fake = fake
        self.provider = provider

    def saying(self, words: list[str]) -> ModelRequest:
        self.fake.script(text_reply(*words))
        return _request(self.model, ChatMessage("user", "Say it."))

    def calling_tool(self, name: str, arguments: dict[str, object]) -> ModelRequest:
        self.fake.script(tool_call_reply(("call_abc", name, json.dumps(arguments))))
        return _request(self.model, ChatMessage("user", "Use the tool."))

    def continuing_after_tool(self, words: list[str]) -> ModelRequest:
        self.fake.script(text_reply(*words))
        return _request(self.model, *_after_tool_call("Use the tool."), step=2)

    def failing(self) -> ModelRequest:
        self.fake.script(http_error(400, "the model refused"))
        return _request(self.model, ChatMessage("user", "Fail."))


@pytest.fixture(params=["scripted", "openai", "retrying-openai"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "scripted":
        yield ScriptedHarness()
        return
    async with serve_fake_openai() as fake:
        openai_provider = OpenAICompatProvider(base_url=fake.base_url, api_key="sk-test", timeout_s=5)
        provider: ModelProvider = openai_provider
        if request.param == "retrying-openai":
            provider = RetryingProvider(openai_provider, base_delay=0.01, timeout_s=5)
        try:
            yield OpenAIHarness(fake, provider)
        finally:
            await openai_provider.aclose()


async def collect(provider: ModelProvider, request: ModelRequest) -> list[ModelChunk]:
    return [chunk async for chunk in provider.stream(request)]


def assert_one_finish_last(chunks: list[ModelChunk], reason: str) -> None:
    finishes = [chunk for chunk in chunks if isinstance(chunk, FinishChunk)]
    assert finishes == [FinishChunk(reason)]
    assert chunks[-1] == FinishChunk(reason)


async def test_serves_its_model(harness: Harness) -> None:
    assert harness.provider.serves(harness.model)


async def test_streams_text_then_stop(harness: Harness) -> None:
    chunks = await collect(harness.provider, harness.saying(["Hello", " big", " world"]))

    texts = [chunk.text for chunk in chunks if isinstance(chunk, TextChunk)]
    assert "".join(texts) == "Hello big world"
    assert len(texts) == 3  # streamed, not one lump
    assert_one_finish_last(chunks, STEP_STOP)


async def test_tool_call_arrives_whole_and_ends_the_step(harness: Harness) -> None:
    arguments = {"word": "durable", "limit": 3, "nested": {"ok": True}}

    chunks = await collect(harness.provider, harness.calling_tool("lookup", arguments))

    calls = [chunk.call for chunk in chunks if isinstance(chunk, ToolCallChunk)]
    assert len(calls) == 1
    assert calls[0].name == "lookup"
    assert calls[0].id
    assert json.loads(calls[0].input_json) == arguments
    assert_one_finish_last(chunks, STEP_TOOL_CALLS)


async def test_continues_after_a_tool_result(harness: Harness) -> None:
    chunks = await collect(harness.provider, harness.continuing_after_tool(["Found", " it."]))

    assert chunks == [TextChunk("Found"), TextChunk(" it."), FinishChunk(STEP_STOP)]


async def test_failure_is_a_model_error_not_retryable(harness: Harness) -> None:
    with pytest.raises(ModelError, match="the model refused") as raised:
        await collect(harness.provider, harness.failing())

    assert raised.value.retryable is False


async def test_closing_mid_stream_is_clean(harness: Harness) -> None:
    stream = harness.provider.stream(harness.saying(["one", " two", " three"]))

    first = await anext(aiter(stream))
    await stream.aclose()

    assert first == TextChunk("one")
