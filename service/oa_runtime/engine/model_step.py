"""One model step of a run: the provider's stream recorded as it arrives.

Text goes out as `message.delta` events, batched over a flush window (the first
delta of a message at once, for time to first token). The window widens under load:
to twice the time the step's appends take (smoothed), up to `max_window_s`. An
append waits longer exactly when the service is short of CPU (the writer, the store
and the streams are all behind), and then every event saved is worth most: each
costs a commit share, a broker hop and a gRPC message per stream whatever its size.
An idle service keeps the base window, so its latency is unchanged. When the stream ends the
step records the completed message, the tool calls the model asked for and the
step's end in one append. The provider is read by a pump task into a queue so a
quiet stream still flushes its buffered text when the window passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..core import events as ev
from ..core.messages import ToolCall
from ..observability import metrics, tracing
from ..ports import FinishChunk, ModelChunk, ModelError, ModelProvider, ModelRequest, TextChunk, ToolCallChunk
from .tool_records import Recorder

_END = object()  # the pump's last item: the provider's stream ended normally
_QUEUE_SIZE = 4096


def flush_window(base_s: float, max_s: float, append_s: float) -> float:
    """The window for the next delta: twice the (smoothed) time an append takes, within
    [base_s, max(base_s, max_s)]. No base window (0) means every chunk is its own event."""
    if base_s <= 0:
        return 0.0
    return min(max(base_s, max_s), max(base_s, 2 * append_s))


class ModelStep:
    def __init__(
        self,
        loop: Recorder,
        provider: ModelProvider,
        provider_name: str,
        request: ModelRequest,
        flush_window_s: float,
        max_window_s: float = 0.0,
    ) -> None:
        self.loop = loop
        self.provider = provider
        self.provider_name = provider_name  # a bounded metric label
        self.request = request
        self.base_window = self.window = flush_window_s
        self.max_window = max_window_s
        self.append_s = 0.0  # smoothed time an append of this step takes
        self.part_id = f"txt-s{request.step}"
        self.text: list[str] = []  # the whole message so far
        self.buffered: list[str] = []  # text not yet recorded as a delta
        self.calls: list[ToolCall] = []
        self.finish = ev.STEP_STOP
        self.last_flush = 0.0
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_SIZE)

    async def run(self) -> str:
        """Records the started step's output and its `step.finished`; answers the finish reason."""
        await self._stream_the_model()
        await self._flush()
        return await self._finish_the_step()

    async def _stream_the_model(self) -> None:
        # The body's own errors are kept out of the TaskGroup (which would wrap
        # them in an ExceptionGroup) and raised once the pump is stopped.
        failure: Exception | None = None
        async with asyncio.TaskGroup() as step_tasks:
            pump_task = step_tasks.create_task(self._pump())
            try:
                await self._record_chunks()
            except Exception as exc:
                failure = exc
            finally:
                pump_task.cancel()
        if failure is not None:
            raise failure

    async def _pump(self) -> None:
        """Reads the provider's stream into the queue; ends with _END or the ModelError."""
        began = time.perf_counter()
        first_token = True
        try:
            with tracing.model_call_span(self.provider_name, self.request.model, self.request.step):
                # Closing the stream (also on cancel) releases the provider's HTTP request at once.
                async with contextlib.aclosing(self.provider.stream(self.request)) as stream:
                    async for chunk in stream:
                        if first_token and isinstance(chunk, TextChunk):
                            first_token = False
                            metrics.observe_first_token(self.provider_name, time.perf_counter() - began)
                        await self.queue.put(chunk)
            metrics.observe_model_call(self.provider_name, time.perf_counter() - began)
            await self.queue.put(_END)
        except ModelError as exc:
            metrics.MODEL_ERRORS.labels(self.provider_name).inc()
            await self.queue.put(exc)

    async def _record_chunks(self) -> None:
        while (item := await self._next_item()) is not _END:
            if isinstance(item, ModelError):
                await self._flush()
                raise item
            chunk: ModelChunk = item  # type: ignore[assignment]
            if isinstance(chunk, TextChunk):
                await self._record_text(chunk.text)
            elif isinstance(chunk, ToolCallChunk):
                self.calls.append(chunk.call)
            elif isinstance(chunk, FinishChunk):
                self.finish = chunk.reason

    async def _next_item(self) -> object:
        """The pump's next item; while text is buffered, flushes it when the window passes."""
        while True:
            try:
                return self.queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
            flush_due = self.last_flush + self.window
            timeout = None if not self.buffered else max(0.0, flush_due - time.monotonic())
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns
                # the result and drops a cancel that lands as the get completes,
                # and a run task must stop when it is cancelled.
                async with asyncio.timeout(timeout):
                    return await self.queue.get()
            except TimeoutError:
                await self._flush()

    async def _record_text(self, text: str) -> None:
        self.text.append(text)
        self.buffered.append(text)
        # The first delta of a message goes out at once (time to first token).
        if len(self.text) == 1 or time.monotonic() - self.last_flush >= self.window:
            await self._flush()

    async def _flush(self) -> None:
        if self.buffered:
            delta = "".join(self.buffered)
            self.buffered.clear()
            self.last_flush = began = time.monotonic()
            await self.loop.append(ev.message_delta(self.part_id, delta))
            self._adapt_window(time.monotonic() - began)

    def _adapt_window(self, append_s: float) -> None:
        self.append_s = (self.append_s + append_s) / 2 if self.append_s else append_s
        self.window = flush_window(self.base_window, self.max_window, self.append_s)

    async def _finish_the_step(self) -> str:
        """Records the completed message, the requested tool calls and the step's end at once."""
        events: list[ev.NewEvent] = []
        if self.text:
            events.append(ev.message_completed(self.part_id, "".join(self.text)))
        events.extend(ev.tool_call_requested(call.id, call.name, call.input_json) for call in self.calls)
        finish = ev.STEP_TOOL_CALLS if self.calls else self.finish
        events.append(ev.step_finished(self.request.step, finish))
        await self.loop.append(*events)
        return finish
