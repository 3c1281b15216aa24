"""A ModelProvider for any OpenAI-compatible chat-completions endpoint (streaming, tool calls).

Uses the official `openai` SDK with its own retries off: retrying belongs to
RetryingProvider, which knows whether output was already streamed.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, Collection, Mapping
from dataclasses import dataclass, field

import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
)

from ..core.events import STEP_LENGTH, STEP_STOP, STEP_TOOL_CALLS
from ..core.messages import ChatMessage, ToolCall
from ..ports import (
    FinishChunk,
    ModelChunk,
    ModelError,
    ModelRequest,
    TextChunk,
    TokenUsage,
    ToolCallChunk,
    ToolSpec,
)
from .retrying import RetryLater

# Statuses worth another try: timeout, conflict, rate limit; 5xx are added below.
RETRYABLE_STATUSES = frozenset({408, 409, 429})

# Local servers (vLLM, Ollama, llama.cpp) accept any key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "unused"

_FINISH_REASONS = {
    "stop": STEP_STOP,
    "tool_calls": STEP_TOOL_CALLS,
    "function_call": STEP_TOOL_CALLS,
    "length": STEP_LENGTH,
}


class OpenAICompatProvider:
    """Streams chat completions from `base_url`. Serves every model name in `models`,
    or, when `models` is None, every name but the scripted model's ("" means `default_model`)."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        default_model: str = "",
        models: Collection[str] | None = None,
        timeout_s: float = 60.0,
        stream_usage: bool = True,
    ) -> None:
        self.base_url = base_url
        self.default_model = default_model
        self.models = frozenset(models) if models is not None else None
        # Asks for the usage chunk at the end of the stream (`stream_options.include_usage`);
        # off for a server that refuses the option (RUNTIME_OPENAI_STREAM_USAGE=0).
        self.stream_usage = stream_usage
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or PLACEHOLDER_API_KEY,
            max_retries=0,
            timeout=timeout_s,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OpenAICompatProvider:
        """From RUNTIME_OPENAI_BASE_URL (required), RUNTIME_OPENAI_API_KEY, RUNTIME_MODEL."""
        return cls(
            base_url=environ["RUNTIME_OPENAI_BASE_URL"],
            api_key=environ.get("RUNTIME_OPENAI_API_KEY", ""),
            default_model=environ.get("RUNTIME_MODEL", ""),
            stream_usage=environ.get("RUNTIME_OPENAI_STREAM_USAGE", "1") not in ("0", "false", "no"),
        )

    def __repr__(self) -> str:
        # Never the API key.
        return f"OpenAICompatProvider(base_url={self.base_url!r}, default_model={self.default_model!r})"

    def serves(self, model: str) -> bool:
        if self.models is not None:
            return model in self.models
        return model not in ("scripted", "")

    async def aclose(self) -> None:
        """Closes the HTTP connection pool."""
        await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        model = request.model or self.default_model
        tools = [tool_param(spec) for spec in request.tools]
        calls = ToolCallAccumulator(request.step)
        finish: str | None = None
        usage: TokenUsage | None = None
        try:
            response = await self._client.chat.completions.create(
                model=model,
                messages=[message_param(m) for m in request.messages],
                stream=True,
                stream_options={"include_usage": True} if self.stream_usage else openai.omit,
                tools=tools or openai.omit,
            )
            # `async with` closes the HTTP response however this generator ends,
            # including aclose() by the consumer mid-stream.
            async with response:
                async for chunk in response:
                    for text in calls.feed(chunk):
                        yield TextChunk(text)
                    finish = _finish_reason(chunk) or finish
                    usage = _usage(chunk) or usage
        except openai.OpenAIError as err:
            raise model_error(err) from err
        except ValueError as err:  # a chunk that is not JSON or not a chunk
            raise ModelError(f"malformed model stream: {err}", retryable=False) from err
        if finish is None:
            raise ModelError("model stream ended before a finish reason", retryable=True)
        if finish == STEP_LENGTH:
            # Tool calls cut off by the length limit have broken arguments: drop them.
            yield FinishChunk(STEP_LENGTH, usage)
            return
        for call in calls.complete():
            yield ToolCallChunk(call)
        yield FinishChunk(STEP_TOOL_CALLS if calls.any else finish, usage)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAccumulator:
    """Joins tool-call fragments streamed by index into whole calls."""

    def __init__(self, step: int) -> None:
        self.step = step
        self._calls: dict[int, _PartialCall] = {}

    @property
    def any(self) -> bool:
        return bool(self._calls)

    def feed(self, chunk: ChatCompletionChunk) -> list[str]:
        """Takes in one chunk's tool-call fragments; returns its text deltas."""
        texts = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content:
                texts.append(delta.content)
            for fragment in delta.tool_calls or ():
                partial = self._calls.setdefault(fragment.index, _PartialCall())
                if fragment.id:
                    partial.id = fragment.id
                if fragment.function is not None:
                    if fragment.function.name:
                        partial.name += fragment.function.name
                    if fragment.function.arguments:
                        partial.arguments.append(fragment.function.arguments)
        return texts

    def complete(self) -> list[ToolCall]:
        return [
            ToolCall(
                id=partial.id or f"call_{self.step}_{index}",
                name=partial.name,
                input_json="".join(partial.arguments) or "{}",
            )
            for index, partial in sorted(self._calls.items())
        ]


def _usage(chunk: ChatCompletionChunk) -> TokenUsage | None:
    """The provider's token counts: on the last chunk (`include_usage`), or on any chunk by
    servers that always send them."""
    if chunk.usage is None:
        return None
    return TokenUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)


def _finish_reason(chunk: ChatCompletionChunk) -> str | None:
    for choice in chunk.choices:
        if choice.index == 0 and choice.finish_reason:
            if choice.finish_reason == "content_filter":
                raise ModelError("the provider's content filter stopped the answer", retryable=False)
            return _FINISH_REASONS.get(choice.finish_reason, STEP_STOP)
    return None


def message_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "system":
        return ChatCompletionSystemMessageParam(role="system", content=message.content)
    if message.role == "tool":
        return ChatCompletionToolMessageParam(
            role="tool", tool_call_id=message.tool_call_id, content=message.content
        )
    if message.role == "assistant":
        assistant = ChatCompletionAssistantMessageParam(role="assistant", content=message.content or None)
        if message.tool_calls:
            assistant["tool_calls"] = [
                ChatCompletionMessageFunctionToolCallParam(
                    id=call.id, type="function", function={"name": call.name, "arguments": call.input_json}
                )
                for call in message.tool_calls
            ]
        return assistant
    return ChatCompletionUserMessageParam(role="user", content=message.content)


def tool_param(spec: ToolSpec) -> ChatCompletionFunctionToolParam:
    parameters = spec.input_schema or {"type": "object", "properties": {}}
    return ChatCompletionFunctionToolParam(
        type="function",
        function={"name": spec.name, "description": spec.description, "parameters": dict(parameters)},
    )


def model_error(err: openai.OpenAIError) -> ModelError:
    """The SDK's error as a ModelError: rate limits, 5xx and broken connections are retryable."""
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        message = f"model endpoint answered {status}: {err.message}"
        if status == 429 or status == 503:
            return RetryLater(message, retry_after=retry_after_seconds(err.response.headers), status=status)
        retryable = status in RETRYABLE_STATUSES or status >= 500
        return ModelError(message, retryable=retryable, status=status)
    if isinstance(err, openai.APITimeoutError):
        return ModelError("model endpoint timed out", retryable=True)
    if isinstance(err, openai.APIConnectionError):
        return ModelError(f"model endpoint connection failed: {err.__cause__ or err}", retryable=True)
    if isinstance(err, openai.APIError):
        # An error event inside the stream: the server's trouble, usually passing.
        return ModelError(f"model endpoint error: {err.message}", retryable=True)
    return ModelError(f"model call failed: {err}", retryable=False)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
