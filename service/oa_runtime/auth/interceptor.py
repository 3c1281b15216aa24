"""gRPC server interceptor that requires a valid service token on every non-health call.

grpc.aio interceptors only see the method name and metadata, not the request and
not a context they could abort with. So the interceptor wraps the handler that
`continuation` returns: the check runs inside the call, after the request is
deserialized (claims bind to its run_id/thread_id) and before the servicer's
code, and a rejection is `context.abort_with_status` with an ErrorInfo.
The verified Claims are then readable by the handler through `current_claims()`.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any, Protocol

import grpc
import grpc.aio

from ..core.errors import DependencyUnavailable, DomainError, InvalidToken
from .rpc_status import to_rpc_status
from .token import Claims, Keyring, TokenPolicy, check_claims, verify_token

SIGNATURE_HEADER = "x-oa-runtime-signature"
KEY_ID_HEADER = "x-oa-runtime-key-id"
USER_ID_HEADER = "x-oa-user-id"
GUEST_SCOPE_HEADER = "x-oa-guest-scope"
_AUTH_HEADERS = (SIGNATURE_HEADER, KEY_ID_HEADER, USER_ID_HEADER, GUEST_SCOPE_HEADER)

# Liveness, readiness and tooling stay open (Envoy health checks carry no token).
EXEMPT_METHOD_PREFIXES = (
    "/openagents.runtime.v1.HealthService/",
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

logger = logging.getLogger(__name__)

# Each grpc.aio RPC runs in its own task with its own copy of the context, so a
# value set here is seen by that call's handler only and dies with the call.
_verified_claims: ContextVar[Claims | None] = ContextVar("oa_runtime_verified_claims", default=None)


def current_claims() -> Claims | None:
    """The verified token claims of the RPC being handled (None on exempt methods)."""
    return _verified_claims.get()


class NonceStore(Protocol):
    """Remembers used nonces across replicas (EventStore implements this)."""

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        """True the first time a nonce is seen; False if it was used and has not expired."""


Authenticate = Callable[[object | None, grpc.aio.ServicerContext], Awaitable[None]]


class ServiceTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        keyring: Keyring,
        nonces: NonceStore,
        *,
        policy: TokenPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._nonces = nonces
        self._policy = policy or TokenPolicy()
        self._clock = clock

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(EXEMPT_METHOD_PREFIXES):
            return handler
        metadata = handler_call_details.invocation_metadata or ()

        async def authenticate(request: object | None, context: grpc.aio.ServicerContext) -> None:
            try:
                claims = await self.authorize(metadata, request)
            except DomainError as err:
                # Only the method and the problem: never the token, a secret or a MAC.
                logger.warning(
                    "service token rejected: method=%s reason=%s detail=%s",
                    method,
                    err.reason,
                    err.metadata.get("problem") or err.metadata.get("claim", ""),
                )
                await context.abort_with_status(to_rpc_status(err))
                raise AssertionError("abort_with_status returned") from err  # pragma: no cover
            _verified_claims.set(claims)

        return _wrap_handler(handler, authenticate)

    async def authorize(self, metadata: Iterable[Any], request: object | None) -> Claims:
        """Claims of a valid, unused token that matches the request; a DomainError otherwise."""
        headers = _auth_headers(metadata)
        claims = verify_token(
            headers.get(SIGNATURE_HEADER, ""),
            self._keyring,
            headers.get(KEY_ID_HEADER),
            now=self._clock(),
            max_ttl_s=self._policy.max_ttl_s,
            max_skew_s=self._policy.max_skew_s,
        )
        # The nonce is spent before the claims are compared: a verified token is
        # single-use whatever the outcome, so a replay can never be probed.
        if not await self._use_nonce(claims):
            raise InvalidToken("nonce already used")
        user_id = _string_field(request, "user_id")
        check_claims(
            claims,
            run_id=_string_field(request, "run_id"),
            thread_id=_string_field(request, "thread_id"),
            # StartRunRequest names its user; other requests carry the principal in metadata.
            user_id=user_id if user_id is not None else headers.get(USER_ID_HEADER),
            guest_scope=headers.get(GUEST_SCOPE_HEADER),
        )
        return claims

    async def _use_nonce(self, claims: Claims) -> bool:
        try:
            return await self._nonces.use_nonce(claims.nonce, float(claims.exp))
        except DomainError:
            raise
        except Exception as err:
            # Fail closed: without the nonce table a replay cannot be ruled out.
            logger.exception("nonce store failed")
            raise DependencyUnavailable("nonce store", type(err).__name__) from err


def _auth_headers(metadata: Iterable[Any]) -> dict[str, str]:
    """The auth-related metadata; a repeated one is refused rather than guessed at."""
    headers: dict[str, str] = {}
    for key, value in metadata:
        if key in _AUTH_HEADERS and isinstance(value, str):
            if key in headers:
                raise InvalidToken(f"malformed: repeated {key}")
            headers[key] = value
    return headers


def _string_field(request: object | None, name: str) -> str | None:
    """A request message's string field, or None when the message has no such field."""
    value = getattr(request, name, None)
    return value if isinstance(value, str) else None


def _wrap_handler(handler: Any, authenticate: Authenticate) -> Any:
    """The same RPC method handler with `authenticate` run first inside the call."""
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(handler.unary_unary, authenticate, True), **codec
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_streaming(handler.unary_stream, authenticate, True), **codec
        )
    if handler.stream_unary is not None:
        # The request is a stream the servicer reads: nothing to bind but the principal.
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary(handler.stream_unary, authenticate, False), **codec
        )
    return grpc.stream_stream_rpc_method_handler(
        _wrap_streaming(handler.stream_stream, authenticate, False), **codec
    )


def _wrap_unary(inner: Callable[..., Any], authenticate: Authenticate, bind: bool) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await authenticate(request if bind else None, context)
        result = inner(request, context)
        return await result if inspect.isawaitable(result) else result

    return call


def _wrap_streaming(inner: Callable[..., Any], authenticate: Authenticate, bind: bool) -> Callable[..., Any]:
    # grpc.aio picks how to drive a streaming handler from its function kind: a
    # coroutine function writes with context.write, anything else is iterated.
    # The wrapper must be of the same kind as the handler it wraps.
    if inspect.iscoroutinefunction(inner):

        async def write(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await authenticate(request if bind else None, context)
            return await inner(request, context)

        return write

    async def iterate(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await authenticate(request if bind else None, context)
        responses = inner(request, context)
        if hasattr(responses, "__aiter__"):
            try:
                async for response in responses:
                    yield response
            finally:
                # A cancelled call closes this wrapper; close the servicer's
                # generator now too, so its cleanup (unsubscribe...) runs at once.
                aclose = getattr(responses, "aclose", None)
                if aclose is not None:
                    await aclose()
        else:
            for response in responses:
                yield response

    return iterate
