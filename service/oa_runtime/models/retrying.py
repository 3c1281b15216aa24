"""Retries and timeouts around any ModelProvider.

A step is retried only while it has produced nothing: once a chunk went out,
the engine has recorded it, and replaying the call could produce different
text. From then on a failure goes up to the engine, which ends or redoes the
step in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, Awaitable, Callable

from ..ports import ModelChunk, ModelError, ModelProvider, ModelRequest


class RetryLater(ModelError):
    """A retryable failure for which the server said how long to wait (Retry-After)."""

    def __init__(self, message: str, *, retry_after: float | None, status: int | None = None) -> None:
        super().__init__(message, retryable=True, status=status)
        self.retry_after = retry_after


class ModelTimeout(ModelError):
    """The model sent no chunk within the allowed time."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class RetryingProvider:
    """Wraps a provider with per-chunk timeouts and retries of failed, empty attempts.

    `timeout_s` bounds the wait for the first chunk and between chunks, not the
    whole step, so a long answer that keeps streaming never times out.
    A Retry-After longer than `max_retry_after` is not waited for: the error goes up.
    """

    def __init__(
        self,
        inner: ModelProvider,
        *,
        attempts: int = 3,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        timeout_s: float = 60.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.name = inner.name
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout_s = timeout_s
        self.max_retry_after = max_retry_after
        self._sleep = sleep

    def serves(self, model: str) -> bool:
        return self.inner.serves(model)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        for attempt in range(1, self.attempts + 1):
            produced = False
            try:
                # aclosing: a consumer's aclose() must reach the inner request now, not at GC.
                async with contextlib.aclosing(self._timed(request)) as chunks:
                    async for chunk in chunks:
                        produced = True
                        yield chunk
                return
            except ModelError as err:
                if produced or not err.retryable or attempt == self.attempts:
                    raise
                delay = self.delay_before_retry(attempt, err)
                if delay is None:
                    raise
            await self._sleep(delay)

    def delay_before_retry(self, attempt: int, err: ModelError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up now."""
        if isinstance(err, RetryLater) and err.retry_after is not None:
            return err.retry_after if err.retry_after <= self.max_retry_after else None
        backoff = min(self.max_delay, self.base_delay * (1 << (attempt - 1)))
        # Equal jitter: at least half the backoff, so clients that failed together spread out.
        return backoff / 2 + random.uniform(0, backoff / 2)

    async def _timed(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        chunks = aiter(self.inner.stream(request))
        try:
            while True:
                try:
                    async with asyncio.timeout(self.timeout_s):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise ModelTimeout(f"model sent nothing for {self.timeout_s:g}s") from None
                yield chunk
        finally:
            # Releases the inner request (its HTTP stream) on timeout, failure or aclose.
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
