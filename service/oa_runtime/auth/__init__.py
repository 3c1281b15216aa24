"""The signed service token: pure mint/verify (`token`), the gRPC interceptor
that enforces it, and the DomainError → gRPC status mapping it shares with the API."""

from .interceptor import (
    EXEMPT_METHOD_PREFIXES,
    GUEST_SCOPE_HEADER,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    USER_ID_HEADER,
    NonceStore,
    ServiceTokenInterceptor,
    current_claims,
)
from .rpc_status import to_rpc_status
from .token import Claims, Keyring, TokenPolicy, check_claims, mint_token, verify_token

__all__ = [
    "EXEMPT_METHOD_PREFIXES",
    "GUEST_SCOPE_HEADER",
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "USER_ID_HEADER",
    "Claims",
    "Keyring",
    "NonceStore",
    "ServiceTokenInterceptor",
    "TokenPolicy",
    "check_claims",
    "current_claims",
    "mint_token",
    "to_rpc_status",
    "verify_token",
]
