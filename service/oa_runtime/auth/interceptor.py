"""The one gRPC server interceptor at the edge: decode, authenticate, authorize, map errors.

grpc.aio interceptors only see the method name and metadata, not the request and
not a context they could abort with. So the interceptor wraps the handler that
`continuation` returns, and inside the call, in this order:

1. a request that could not be decoded (bytes that are not the message: invalid
   UTF-8 from a `%FF` in a path, nesting past protobuf's limit) is INVALID_ARGUMENT
   `MALFORMED_REQUEST`, before any other work and without a traceback;
2. the service token is verified and its nonce spent (health and reflection are open);
3. the resource the method touches is read from the store (`resources.py`) and the
   token's claims are checked against it (`access.py`);
4. the servicer runs; a DomainError it raises becomes its gRPC status with an
   ErrorInfo (`to_rpc_status`), anything else INTERNAL with a request id that is
   logged with the traceback. This is the only place domain errors are mapped.

The verified Claims are then readable by the handler through `current_claims()`.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import grpc.aio

from ..core.errors import (
    DependencyUnavailable,
    DomainError,
    InternalError,
    InvalidToken,
    MalformedRequest,
    UnboundToken,
)
from ..core.records import NonceToSpend
from .access import Caller, authorize, require_binding
from .resources import ResourceReader, resolve_target
from .rpc_status import abort_with
from .token import Claims, Keyring, TokenPolicy, verify_token

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


# Methods whose handler hands the token's nonce to its own store write (StartRun: create_run
# spends it in its transaction), which saves the nonce's store trip on the hot path. Whatever
# the handler does not spend (an error before or in that write, which undoes it), the
# interceptor spends after the call, refusing it as before if it was used: single-use holds.
DEFERRED_NONCE_METHODS = frozenset({"/openagents.runtime.v1.RunService/StartRun"})
_nonce_to_spend: ContextVar[NonceToSpend | None] = ContextVar("oa_runtime_nonce_to_spend", default=None)


def nonce_to_spend() -> NonceToSpend | None:
    """The RPC's nonce when its spending is left to the handler (DEFERRED_NONCE_METHODS)."""
    return _nonce_to_spend.get()


class NonceStore(Protocol):
    """Remembers used nonces across replicas (EventStore implements this)."""

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        """True the first time a nonce is seen; False if it was used and has not expired."""


class AuthStore(NonceStore, ResourceReader, Protocol):
    """Nonces and the resource reads authorization needs (EventStore implements both)."""


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands in for a request whose bytes did not decode, so the call can refuse it."""

    problem: str


Admit = Callable[[object | None, grpc.aio.ServicerContext], Awaitable[None]]
Settle = Callable[[], Awaitable[None]]


class ServiceTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        keyring: Keyring,
        store: AuthStore,
        *,
        policy: TokenPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._store = store
        self._policy = policy or TokenPolicy()
        self._clock = clock

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None:
            return None
        exempt = method.startswith(EXEMPT_METHOD_PREFIXES)
        metadata = handler_call_details.invocation_metadata or ()

        async def admit(request: object | None, context: grpc.aio.ServicerContext) -> None:
            if isinstance(request, Undecodable):
                raise MalformedRequest(request.problem)
            if exempt:
                return
            try:
                claims = await self.authorize(method, metadata, request)
            except DomainError as err:
                # Only the method and the problem: never the token, a secret or a MAC.
                logger.warning(
                    "request refused: method=%s reason=%s detail=%s",
                    method,
                    err.reason,
                    err.metadata.get("problem") or err.metadata.get("claim", ""),
                )
                raise
            _verified_claims.set(claims)

        settle = self.settle_nonce if method in DEFERRED_NONCE_METHODS else None
        return _wrap_handler(handler, admit, method, exempt, settle)

    async def authorize(self, method: str, metadata: Iterable[Any], request: object | None) -> Claims:
        """Claims of a valid, unused token allowed on what `request` touches; a DomainError otherwise."""
        headers = _auth_headers(metadata)
        claims = verify_token(
            headers.get(SIGNATURE_HEADER, ""),
            self._keyring,
            headers.get(KEY_ID_HEADER),
            now=self._clock(),
            max_ttl_s=self._policy.max_ttl_s,
            max_skew_s=self._policy.max_skew_s,
        )
        # The nonce is spent before the claims are compared, or (deferred) by the handler's
        # write or after the call, where a replay gets InvalidToken whatever else failed:
        # a verified token is single-use whatever the outcome, so a replay can never be probed.
        if method in DEFERRED_NONCE_METHODS:
            _nonce_to_spend.set(NonceToSpend(claims.nonce, float(claims.exp)))
        elif not await self._use_nonce(claims):
            raise InvalidToken("nonce already used")
        allow_service = self._policy.allow_service_scope
        require_binding(claims, allow_service_scope=allow_service)  # before any store read
        target = (
            None if request is None else await resolve_target(self._store, method, request, claims.agent_id)
        )
        if target is None:
            # No access rule for this method (or a streamed request): service tokens only.
            if claims.bound:
                raise UnboundToken("this method has no per-resource rule; it takes a service token")
            return claims
        caller = Caller(claims, headers.get(USER_ID_HEADER), headers.get(GUEST_SCOPE_HEADER))
        authorize(caller, target, allow_service_scope=allow_service)
        return claims

    async def settle_nonce(self) -> None:
        """After a call of a DEFERRED_NONCE_METHODS method: spends its nonce if the handler
        did not (InvalidToken, replacing the call's outcome, if it had been used)."""
        pending = _nonce_to_spend.get()
        if pending is None or pending.spent:
            return
        pending.spent = True
        if not await self._use_nonce_value(pending.value, pending.expires_at_epoch):
            raise InvalidToken("nonce already used")

    async def _use_nonce(self, claims: Claims) -> bool:
        return await self._use_nonce_value(claims.nonce, float(claims.exp))

    async def _use_nonce_value(self, nonce: str, expires_at_epoch: float) -> bool:
        try:
            return await self._store.use_nonce(nonce, expires_at_epoch)
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


def _lenient(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that hands undecodable bytes to the call (as Undecodable) instead of
    failing inside grpc, which would log a traceback and answer a bare INTERNAL."""
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as err:  # DecodeError, RecursionError, ...: all mean bad bytes
            return Undecodable(f"the request is not a valid message ({type(err).__name__})")

    return parse


async def _abort(context: grpc.aio.ServicerContext, method: str, err: Exception) -> None:
    """The one mapping from an exception to the status the client gets."""
    if isinstance(err, DomainError):
        await abort_with(context, err)
        return
    request_id = uuid.uuid4().hex[:16]
    logger.error("unexpected error", exc_info=err, extra={"method": method, "request_id": request_id})
    await abort_with(context, InternalError("internal error", request_id=request_id))


def _wrap_handler(handler: Any, admit: Admit, method: str, exempt: bool, settle: Settle | None = None) -> Any:
    """The same RPC method handler with `admit` run first inside the call and errors mapped."""
    codec = {
        "request_deserializer": _lenient(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(handler.unary_unary, admit, method, settle=settle), **codec
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_streaming(handler.unary_stream, admit, method), **codec
        )
    if exempt:
        return handler  # reflection: streamed requests, open, nothing to map
    codec["request_deserializer"] = handler.request_deserializer
    if handler.stream_unary is not None:
        # The request is a stream the servicer reads: nothing to bind it to.
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary(handler.stream_unary, admit, method, bind=False), **codec
        )
    return grpc.stream_stream_rpc_method_handler(
        _wrap_streaming(handler.stream_stream, admit, method, bind=False), **codec
    )


def _wrap_unary(
    inner: Callable[..., Any], admit: Admit, method: str, bind: bool = True, settle: Settle | None = None
) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            try:
                await admit(request if bind else None, context)
                result = inner(request, context)
                response = await result if inspect.isawaitable(result) else result
            finally:
                if settle is not None:
                    await settle()  # a replayed token's InvalidToken wins over the call's outcome
            return response
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception as err:
            await _abort(context, method, err)

    return call


def _wrap_streaming(
    inner: Callable[..., Any], admit: Admit, method: str, bind: bool = True
) -> Callable[..., Any]:
    # grpc.aio picks how to drive a streaming handler from its function kind: a
    # coroutine function writes with context.write, anything else is iterated.
    # The wrapper must be of the same kind as the handler it wraps.
    if inspect.iscoroutinefunction(inner):

        async def write(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                await admit(request if bind else None, context)
                return await inner(request, context)
            except (grpc.aio.AbortError, grpc.RpcError):
                raise
            except Exception as err:
                await _abort(context, method, err)

        return write

    async def iterate(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            await admit(request if bind else None, context)
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
        except (grpc.aio.AbortError, grpc.RpcError, GeneratorExit):
            raise
        except Exception as err:
            await _abort(context, method, err)

    return iterate
