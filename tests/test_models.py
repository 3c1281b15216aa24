"""Provider-specific behaviour: scripted directives, the OpenAI wire, retries, timeouts, the registry."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator

import pytest
from oa_runtime.core.errors import UnknownModel
from oa_runtime.core.events import STEP_LENGTH, STEP_STOP, STEP_TOOL_CALLS
from oa_runtime.core.messages import ChatMessage, ToolCall
from oa_runtime.models import (
    ModelRegistry,
    ModelTimeout,
    RetryingProvider,
    RetryLater,
    ScriptedProvider,
)
from oa_runtime.models.openai_compat import OpenAICompatProvider, retry_after_seconds
from oa_runtime.ports import (
    FinishChunk,
    ModelChunk,
    ModelError,
    ModelProvider,
    ModelRequest,
    TextChunk,
    TokenUsage,
    ToolCallChunk,
    ToolSpec,
)

from tests.support.fake_openai import (
    FakeOpenAI,
    Scenario,
    http_error,
    serve_fake_openai,
    text_reply,
    tool_call_reply,
)


async def collect(provider: ModelProvider, request: ModelRequest) -> list[ModelChunk]:
    return [chunk async for chunk in provider.stream(request)]


def texts(chunks: list[ModelChunk]) -> list[str]:
    return [chunk.text for chunk in chunks if isinstance(chunk, TextChunk)]


def prompt(text: str, *after: ChatMessage, step: int = 1, model: str = "scripted") -> ModelRequest:
    return ModelRequest("run-1", model, step, (ChatMessage("user", text), *after))


# ----- scripted -----


async def test_say_streams_words_keeping_spaces() -> None:
    chunks = await collect(ScriptedProvider(), prompt("/say Hello  big world"))

    assert chunks == [TextChunk("Hello"), TextChunk("  big"), TextChunk(" world"), FinishChunk(STEP_STOP)]


async def test_prompt_without_directives_is_echoed() -> None:
    chunks = await collect(ScriptedProvider(), prompt("What is\na run?"))

    assert chunks == [
        TextChunk("What"),
        TextChunk(" is"),
        TextChunk("\na"),
        TextChunk(" run?"),
        FinishChunk("stop"),
    ]


async def test_empty_prompt_just_stops() -> None:
    assert await collect(ScriptedProvider(), prompt("")) == [FinishChunk(STEP_STOP)]


async def test_lines_that_are_not_directives_are_ignored() -> None:
    chunks = await collect(ScriptedProvider(), prompt("Please:\n/say ok\n/usr/bin is a path\nthanks"))

    assert chunks == [TextChunk("ok"), FinishChunk(STEP_STOP)]


async def test_tokens_streams_numbered_tokens() -> None:
    chunks = await collect(ScriptedProvider(), prompt("/tokens 4"))

    assert chunks == [
        TextChunk("t1"),
        TextChunk(" t2"),
        TextChunk(" t3"),
        TextChunk(" t4"),
        FinishChunk("stop"),
    ]


async def test_unpaced_tokens_finish_quickly() -> None:
    started = time.monotonic()
    chunks = await collect(ScriptedProvider(), prompt("/tokens 2000"))

    assert time.monotonic() - started < 1.0
    assert len(texts(chunks)) == 2000
    assert texts(chunks)[-1] == " t2000"


async def test_paced_tokens_keep_the_rate() -> None:
    started = time.monotonic()
    chunks = await collect(ScriptedProvider(), prompt("/tokens 20 100"))
    elapsed = time.monotonic() - started

    assert len(texts(chunks)) == 20
    assert 0.12 <= elapsed <= 1.0


async def test_sleep_pauses() -> None:
    started = time.monotonic()
    chunks = await collect(ScriptedProvider(), prompt("/say a\n/sleep 60\n/say b"))

    assert time.monotonic() - started >= 0.05
    assert chunks == [TextChunk("a"), TextChunk("b"), FinishChunk(STEP_STOP)]


async def test_fail_raises_after_earlier_output() -> None:
    seen: list[ModelChunk] = []
    with pytest.raises(ModelError, match=r"^out of luck$") as raised:
        async for chunk in ScriptedProvider().stream(prompt("/say partial\n/fail out of luck\n/say never")):
            seen.append(chunk)

    assert seen == [TextChunk("partial")]
    assert raised.value.retryable is False


@pytest.mark.parametrize(
    "bad", ['/tool lookup {"x": ', "/tool", "/tokens many", "/tokens 3 fast", "/sleep -5"]
)
async def test_malformed_directives_fail_clearly(bad: str) -> None:
    with pytest.raises(ModelError) as raised:
        await collect(ScriptedProvider(), prompt(bad))

    assert raised.value.retryable is False


SCRIPT = '/say a\n/tool lookup {"q": 1}\n/say b\n/tool other\n/say c'


def after_tools(*calls: ToolCall) -> tuple[ChatMessage, ...]:
    messages: list[ChatMessage] = []
    for call in calls:
        messages.append(ChatMessage("assistant", "", tool_calls=(call,)))
        messages.append(ChatMessage("tool", '{"ok": true}', tool_call_id=call.id))
    return tuple(messages)


async def test_tool_directives_end_steps_and_later_steps_resume_from_the_messages() -> None:
    provider = ScriptedProvider()

    step1 = await collect(provider, prompt(SCRIPT))
    first_call = ToolCall("call_1_0", "lookup", '{"q": 1}')
    step2 = await collect(provider, prompt(SCRIPT, *after_tools(first_call), step=2))
    second_call = ToolCall("call_2_1", "other", "{}")
    step3 = await collect(provider, prompt(SCRIPT, *after_tools(first_call, second_call), step=3))

    assert step1 == [TextChunk("a"), ToolCallChunk(first_call), FinishChunk(STEP_TOOL_CALLS)]
    assert step2 == [TextChunk("b"), ToolCallChunk(second_call), FinishChunk(STEP_TOOL_CALLS)]
    assert step3 == [TextChunk("c"), FinishChunk(STEP_STOP)]
    # Replaying a step from the same messages gives the same chunks (restart safety).
    assert await collect(provider, prompt(SCRIPT, *after_tools(first_call), step=2)) == step2


async def test_only_the_last_user_message_drives_the_step() -> None:
    earlier_turn = (
        ChatMessage("user", "/tool lookup {}"),
        *after_tools(ToolCall("call_1_0", "lookup", "{}")),
        ChatMessage("assistant", "done"),
    )
    request = ModelRequest("run-2", "scripted", 1, (*earlier_turn, ChatMessage("user", "/say fresh")))

    assert await collect(ScriptedProvider(), request) == [TextChunk("fresh"), FinishChunk(STEP_STOP)]


def test_scripted_serves_scripted_and_the_default_only() -> None:
    provider = ScriptedProvider()

    assert provider.serves("scripted")
    assert provider.serves("")
    assert not provider.serves("gpt-4o")


# ----- openai against the fake -----


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with serve_fake_openai() as server:
        yield server


@pytest.fixture
async def openai_provider(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatProvider]:
    provider = OpenAICompatProvider(base_url=fake.base_url, api_key="sk-secret", default_model="gpt-default")
    yield provider
    await provider.aclose()


def chat(*messages: ChatMessage, model: str = "gpt-fake", tools: tuple[ToolSpec, ...] = ()) -> ModelRequest:
    return ModelRequest("run-1", model, 2, messages, tools)


async def test_openai_streams_text(fake: FakeOpenAI, openai_provider: OpenAICompatProvider) -> None:
    fake.script(text_reply("Hel", "lo", ", world"))

    chunks = await collect(openai_provider, chat(ChatMessage("user", "hi")))

    assert chunks == [TextChunk("Hel"), TextChunk("lo"), TextChunk(", world"), FinishChunk(STEP_STOP)]


async def test_openai_reports_the_providers_usage_when_asked_for_it(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    reply = text_reply("ok")
    reply.usage = {"prompt_tokens": 31, "completion_tokens": 2}
    fake.script(reply, text_reply("ok"))

    chunks = await collect(openai_provider, chat(ChatMessage("user", "hi")))
    assert chunks == [TextChunk("ok"), FinishChunk(STEP_STOP, TokenUsage(31, 2))]
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}

    quiet = OpenAICompatProvider.from_env(
        {"RUNTIME_OPENAI_BASE_URL": fake.base_url, "RUNTIME_OPENAI_STREAM_USAGE": "0"}
    )
    try:  # a server that refuses the option: not asked, no usage (memory's counter counts)
        assert await collect(quiet, chat(ChatMessage("user", "hi"))) == [
            TextChunk("ok"),
            FinishChunk(STEP_STOP),
        ]
    finally:
        await quiet.aclose()
    assert "stream_options" not in fake.requests[1].body


async def test_openai_joins_tool_call_fragments(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    fake.script(
        tool_call_reply(
            ("call_a", "lookup", '{"word": "durable", "limit": 10}'),
            ("call_b", "clock", "{}"),
            pieces=4,
            text="Checking.",
        )
    )

    chunks = await collect(openai_provider, chat(ChatMessage("user", "look it up")))

    assert chunks == [
        TextChunk("Checking."),
        ToolCallChunk(ToolCall("call_a", "lookup", '{"word": "durable", "limit": 10}')),
        ToolCallChunk(ToolCall("call_b", "clock", "{}")),
        FinishChunk(STEP_TOOL_CALLS),
    ]


async def test_openai_sends_messages_tools_and_model(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    fake.script(text_reply("ok"), text_reply("ok"))
    call = ToolCall("call_7", "lookup", '{"word": "x"}')
    spec = ToolSpec(
        "lookup", "Looks a word up.", {"type": "object", "properties": {"word": {"type": "string"}}}
    )
    messages = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "What is x?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"meaning": "y"}', tool_call_id="call_7"),
    )

    await collect(openai_provider, chat(*messages, tools=(spec,)))
    await collect(openai_provider, chat(ChatMessage("user", "again"), model=""))

    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-secret"
    assert sent.body["model"] == "gpt-fake"
    assert sent.body["stream"] is True
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is x?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_7",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"word": "x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": '{"meaning": "y"}'},
    ]
    assert sent.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Looks a word up.",
                "parameters": spec.input_schema,
            },
        }
    ]
    assert fake.requests[1].body["model"] == "gpt-default"
    assert "tools" not in fake.requests[1].body


async def test_openai_length_finish(fake: FakeOpenAI, openai_provider: OpenAICompatProvider) -> None:
    fake.script(text_reply("cut", finish_reason="length"))

    assert await collect(openai_provider, chat(ChatMessage("user", "x"))) == [
        TextChunk("cut"),
        FinishChunk(STEP_LENGTH),
    ]


async def test_openai_429_carries_retry_after(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    fake.script(http_error(429, "slow down", retry_after="7"))

    with pytest.raises(RetryLater) as raised:
        await collect(openai_provider, chat(ChatMessage("user", "x")))

    assert (raised.value.retryable, raised.value.status, raised.value.retry_after) == (True, 429, 7.0)
    assert "sk-secret" not in str(raised.value)
    assert "sk-secret" not in repr(openai_provider)


async def test_429_is_retried_then_succeeds(fake: FakeOpenAI, openai_provider: OpenAICompatProvider) -> None:
    fake.script(http_error(429, retry_after="0"), text_reply("finally"))
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    retrying = RetryingProvider(openai_provider, attempts=3, sleep=record_sleep)
    chunks = await collect(retrying, chat(ChatMessage("user", "x")))

    assert chunks == [TextChunk("finally"), FinishChunk(STEP_STOP)]
    assert len(fake.requests) == 2
    assert delays == [0.0]  # the server's Retry-After, not the backoff


async def test_persistent_500_fails_after_all_attempts(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    fake.script(*(http_error(500, "boom") for _ in range(3)))
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    retrying = RetryingProvider(openai_provider, attempts=3, base_delay=0.2, sleep=record_sleep)
    with pytest.raises(ModelError, match="500") as raised:
        await collect(retrying, chat(ChatMessage("user", "x")))

    assert (raised.value.retryable, raised.value.status) == (True, 500)
    assert len(fake.requests) == 3
    # Exponential backoff with equal jitter: [b/2, b], then [b, 2b].
    assert len(delays) == 2
    assert 0.1 <= delays[0] <= 0.2
    assert 0.2 <= delays[1] <= 0.4


async def test_client_errors_are_not_retried(fake: FakeOpenAI, openai_provider: OpenAICompatProvider) -> None:
    fake.script(http_error(404, "no such model"), text_reply("unused"))

    with pytest.raises(ModelError, match="404") as raised:
        await collect(RetryingProvider(openai_provider, base_delay=0.01), chat(ChatMessage("user", "x")))

    assert raised.value.retryable is False
    assert len(fake.requests) == 1


async def test_mid_stream_disconnect_is_retryable_but_not_retried_after_output(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    broken = text_reply("one", " two", " three")
    broken.disconnect_after = 3  # role chunk, "one", " two"
    fake.script(broken, text_reply("never sent"))
    seen: list[ModelChunk] = []

    with pytest.raises(ModelError) as raised:
        async for chunk in RetryingProvider(openai_provider, base_delay=0.01).stream(
            chat(ChatMessage("user", "x"))
        ):
            seen.append(chunk)

    assert raised.value.retryable is True
    assert seen == [TextChunk("one"), TextChunk(" two")]
    assert len(fake.requests) == 1


async def test_disconnect_before_any_output_is_retried(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    broken = text_reply("lost")
    broken.disconnect_after = 1  # only the role chunk, no content
    fake.script(broken, text_reply("second try"))

    chunks = await collect(RetryingProvider(openai_provider, base_delay=0.01), chat(ChatMessage("user", "x")))

    assert chunks == [TextChunk("second try"), FinishChunk(STEP_STOP)]
    assert len(fake.requests) == 2


async def test_stream_ending_without_finish_reason_is_retryable(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    truncated = text_reply("half")
    truncated.choices.pop()  # no finish chunk, but a clean [DONE]
    fake.script(truncated)

    with pytest.raises(ModelError, match="finish reason") as raised:
        await collect(openai_provider, chat(ChatMessage("user", "x")))

    assert raised.value.retryable is True


async def test_stalled_stream_times_out_between_chunks(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    stalled = text_reply("first", " second")
    stalled.stall_after = 2
    fake.script(stalled)
    seen: list[ModelChunk] = []
    retrying = RetryingProvider(openai_provider, timeout_s=0.3, base_delay=0.01)

    started = time.monotonic()
    with pytest.raises(ModelTimeout) as raised:
        async for chunk in retrying.stream(chat(ChatMessage("user", "x"))):
            seen.append(chunk)

    assert time.monotonic() - started < 2.0
    assert raised.value.retryable is True
    assert seen == [TextChunk("first")]
    await asyncio.wait_for(fake.client_left.wait(), 5)  # the timed-out request was released


async def test_no_first_chunk_in_time_is_retried(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    silent = text_reply("unused")
    silent.stall_after = 0
    fake.script(silent, text_reply("awake"))

    chunks = await collect(
        RetryingProvider(openai_provider, timeout_s=0.3, base_delay=0.01), chat(ChatMessage("user", "x"))
    )

    assert chunks == [TextChunk("awake"), FinishChunk(STEP_STOP)]
    assert len(fake.requests) == 2


async def test_sdk_read_timeout_is_a_retryable_model_error(fake: FakeOpenAI) -> None:
    stalled = text_reply("unused")
    stalled.stall_after = 1
    fake.script(stalled)
    provider = OpenAICompatProvider(base_url=fake.base_url, timeout_s=0.3)
    try:
        with pytest.raises(ModelError, match="timed out") as raised:
            await collect(provider, chat(ChatMessage("user", "x")))
    finally:
        await provider.aclose()

    assert raised.value.retryable is True


async def test_aclose_mid_stream_closes_the_connection(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    held = text_reply("partial", " more")
    held.stall_after = 2
    fake.script(held)
    stream = openai_provider.stream(chat(ChatMessage("user", "x")))

    assert await anext(stream) == TextChunk("partial")
    await stream.aclose()

    await asyncio.wait_for(fake.client_left.wait(), 5)
    assert fake.client_disconnects == 1


async def test_aclose_through_the_retrying_wrapper_closes_the_connection(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    held = text_reply("partial", " more")
    held.stall_after = 2
    fake.script(held)
    stream = RetryingProvider(openai_provider).stream(chat(ChatMessage("user", "x")))

    assert await anext(stream) == TextChunk("partial")
    await stream.aclose()

    await asyncio.wait_for(fake.client_left.wait(), 5)
    assert len(fake.requests) == 1


async def test_slow_chunks_within_the_timeout_are_fine(
    fake: FakeOpenAI, openai_provider: OpenAICompatProvider
) -> None:
    slow = Scenario(choices=text_reply("a", "b").choices, chunk_delay=0.05)
    fake.script(slow)

    chunks = await collect(RetryingProvider(openai_provider, timeout_s=0.5), chat(ChatMessage("user", "x")))

    assert texts(chunks) == ["a", "b"]


def test_retry_after_header_forms() -> None:
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)

    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert 55 <= (retry_after_seconds({"retry-after": in_a_minute}) or 0) <= 60
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


async def test_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    retrying = RetryingProvider(ScriptedProvider(), max_retry_after=30)

    assert retrying.delay_before_retry(1, RetryLater("busy", retry_after=120)) is None
    assert retrying.delay_before_retry(1, RetryLater("busy", retry_after=3)) == 3


# ----- registry -----


def test_registry_without_openai_serves_scripted_only() -> None:
    registry = ModelRegistry.from_env({})

    assert registry.default_model == "scripted"
    assert registry.resolve("").name == "scripted"
    assert registry.resolve("scripted").name == "scripted"
    with pytest.raises(UnknownModel) as raised:
        registry.resolve("gpt-4o")
    assert raised.value.reason == "UNKNOWN_MODEL"
    assert raised.value.metadata == {"model": "gpt-4o"}
    assert str(raised.value) == "unknown model 'gpt-4o'"


async def test_registry_with_openai(fake: FakeOpenAI) -> None:
    env = {"RUNTIME_OPENAI_BASE_URL": fake.base_url, "RUNTIME_OPENAI_API_KEY": "k", "RUNTIME_MODEL": "gpt-x"}
    registry = ModelRegistry.from_env(env)
    fake.script(text_reply("via registry"))
    try:
        chunks = await collect(registry.resolve(""), chat(ChatMessage("user", "x"), model="gpt-x"))
    finally:
        await registry.aclose()

    assert registry.default_model == "gpt-x"
    assert registry.resolve("gpt-x").name == "openai"
    assert registry.resolve("other-model").name == "openai"
    assert registry.resolve("scripted").name == "scripted"
    assert isinstance(registry.resolve("gpt-x"), RetryingProvider)
    assert texts(chunks) == ["via registry"]
    assert fake.requests[0].body["model"] == "gpt-x"
