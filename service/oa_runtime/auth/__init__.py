"""The signed service token: pure mint/verify (`token`), the access rules by resource
(`access`, `resources`), the gRPC edge interceptor that enforces them and maps every
DomainError to a gRPC status (`interceptor`, `rpc_status`)."""

from .access import Caller, Target, authorize
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
from .token import Claims, Keyring, TokenPolicy, mint_token, verify_token

__all__ = [
    "EXEMPT_METHOD_PREFIXES",
    "GUEST_SCOPE_HEADER",
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "USER_ID_HEADER",
    "Caller",
    "Claims",
    "Keyring",
    "NonceStore",
    "ServiceTokenInterceptor",
    "Target",
    "TokenPolicy",
    "authorize",
    "current_claims",
    "mint_token",
    "to_rpc_status",
    "verify_token",
]
