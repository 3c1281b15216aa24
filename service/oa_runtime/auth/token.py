"""The signed service token (`X-OA-RUNTIME-SIGNATURE`): mint, verify, bind. Pure: no I/O.

Format, shared with the product's Laravel side:

    v1.<base64url(claims json)>.<base64url(HMAC-SHA256(secret, <claims segment>))>

base64url without padding; the MAC covers the ASCII claims segment exactly as sent,
so the JSON never has to be re-serialized the same way on both sides. Replay
protection (the nonce) needs shared state and lives in the interceptor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core.errors import InvalidToken
from ..core.validation import canonical_user_id

VERSION = "v1"
DEFAULT_KEY_ID = "default"
DEFAULT_TTL_S = 60
DEFAULT_MAX_SKEW_S = 30

# Bounds the work an unauthenticated caller can cause and what the nonce table stores.
MAX_TOKEN_CHARS = 8192
MAX_NONCE_CHARS = 256

OPTIONAL_CLAIMS = ("run_id", "thread_id", "user_id", "guest_scope", "scope", "worker_id", "agent_id")
# The claims that bind a token to a resource; a token without any of them acts on nothing
# unless it carries `scope: "service"` and the deployment accepts service tokens.
# `worker_id` binds a token to one Codex worker (what a desktop worker itself would hold);
# `agent_id` to one long-lived agent.
BINDING_CLAIMS = ("run_id", "thread_id", "user_id", "worker_id", "agent_id")
SERVICE_SCOPE = "service"

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says. Optional claims are None when the token omits them."""

    iat: int
    exp: int
    nonce: str
    run_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None  # canonical: decimal text, whether the token said 42 or "42"
    guest_scope: str | None = None
    scope: str | None = None
    worker_id: str | None = None
    agent_id: str | None = None

    @property
    def bound(self) -> bool:
        """Whether the token names the run, thread or user it may act on."""
        return any(getattr(self, name) is not None for name in BINDING_CLAIMS)


@dataclass(frozen=True, slots=True)
class Keyring:
    """The signing secrets by key id; several at once so secrets can be rotated."""

    keys: Mapping[str, bytes] = field(repr=False)  # never print secrets
    default_key_id: str = DEFAULT_KEY_ID

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one signing secret")
        if self.default_key_id not in self.keys:
            raise ValueError(f"default key id {self.default_key_id!r} is not among the keys")
        if any(not secret for secret in self.keys.values()):
            raise ValueError("signing secrets must not be empty")

    def secret_for(self, key_id: str | None) -> bytes:
        """The secret a token names by key id; no key id (or an empty one) means the default."""
        secret = self.keys.get(key_id or self.default_key_id)
        if secret is None:
            raise InvalidToken("unknown key id")
        return secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Keyring:
        """`RUNTIME_SIGNING_SECRET` (key id "default"), `RUNTIME_SIGNING_KEYS`
        ("id1:secret1,id2:secret2") and `RUNTIME_SIGNING_DEFAULT_KEY_ID`.

        Raises ValueError when nothing is configured: the service must not start open.
        """
        keys: dict[str, bytes] = {}
        single = environ.get("RUNTIME_SIGNING_SECRET", "")
        if single:
            keys[DEFAULT_KEY_ID] = single.encode()
        for item in environ.get("RUNTIME_SIGNING_KEYS", "").split(","):
            if not item.strip():
                continue
            # Split on the first ':' only: secrets may contain ':'.
            key_id, sep, secret = item.strip().partition(":")
            if not sep or not key_id or not secret:
                raise ValueError("RUNTIME_SIGNING_KEYS entries must look like 'id:secret'")
            keys[key_id] = secret.encode()
        if not keys:
            raise ValueError("set RUNTIME_SIGNING_SECRET or RUNTIME_SIGNING_KEYS")
        default_id = environ.get("RUNTIME_SIGNING_DEFAULT_KEY_ID", "")
        if not default_id:
            default_id = DEFAULT_KEY_ID if DEFAULT_KEY_ID in keys or len(keys) != 1 else next(iter(keys))
        return cls(keys=keys, default_key_id=default_id)


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """How long a token may live and how far ahead of our clock it may be issued."""

    max_ttl_s: int = DEFAULT_TTL_S
    max_skew_s: int = DEFAULT_MAX_SKEW_S
    # Unbound tokens with `scope: "service"` (trusted back-office callers) act on any
    # resource only when the deployment turns this on.
    allow_service_scope: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TokenPolicy:
        """`RUNTIME_TOKEN_TTL_S` (60), `RUNTIME_TOKEN_MAX_SKEW_S` (30) and
        `RUNTIME_ALLOW_SERVICE_TOKENS` (off; `1`/`true` turns it on)."""
        allow = environ.get("RUNTIME_ALLOW_SERVICE_TOKENS", "").strip().lower()
        if allow not in ("", "0", "false", "1", "true"):
            raise ValueError("RUNTIME_ALLOW_SERVICE_TOKENS must be 0, 1, true or false")
        return cls(
            max_ttl_s=int(environ.get("RUNTIME_TOKEN_TTL_S", "") or DEFAULT_TTL_S),
            max_skew_s=int(environ.get("RUNTIME_TOKEN_MAX_SKEW_S", "") or DEFAULT_MAX_SKEW_S),
            allow_service_scope=allow in ("1", "true"),
        )


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict unpadded base64url: anything but the canonical encoding is malformed."""
    if not _BASE64URL.fullmatch(segment):
        raise InvalidToken("malformed: not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed: not base64url") from None
    if b64url_encode(data) != segment:
        raise InvalidToken("malformed: not base64url")
    return data


def sign(secret: bytes, claims_segment: str) -> str:
    return b64url_encode(hmac.new(secret, claims_segment.encode("ascii"), hashlib.sha256).digest())


def mint_token(
    secret: bytes,
    *,
    ttl_s: int,
    now: float,
    nonce: str | None = None,
    run_id: str | None = None,
    thread_id: str | None = None,
    user_id: int | str | None = None,
    guest_scope: str | None = None,
    scope: str | None = None,
    worker_id: str | None = None,
    agent_id: str | None = None,
) -> str:
    """A token valid from `now` for `ttl_s` seconds (what the Laravel side sends; its
    factory writes an integer `user_id`)."""
    iat = int(now)
    claims: dict[str, object] = {
        "iat": iat,
        "exp": iat + ttl_s,
        "nonce": nonce if nonce is not None else secrets.token_urlsafe(16),
    }
    optional: dict[str, object] = {
        "run_id": run_id,
        "thread_id": thread_id,
        "user_id": user_id,
        "guest_scope": guest_scope,
        "scope": scope,
        "worker_id": worker_id,
        "agent_id": agent_id,
    }
    claims.update({name: value for name, value in optional.items() if value is not None})
    segment = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{VERSION}.{segment}.{sign(secret, segment)}"


def verify_token(
    token: str,
    keyring: Keyring,
    key_id: str | None,
    *,
    now: float,
    max_ttl_s: int,
    max_skew_s: int,
) -> Claims:
    """The claims of an authentic, current token; InvalidToken(problem) otherwise.

    Does not check the nonce for reuse (that needs shared state) nor bind claims
    to a resource (see `access.authorize`).
    """
    if not token:
        raise InvalidToken("missing")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed: too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed: expected 3 segments")
    version, claims_segment, mac_segment = parts
    if version != VERSION:
        raise InvalidToken("unsupported version")
    secret = keyring.secret_for(key_id)
    mac = b64url_decode(mac_segment)
    # Decoding first also proves the segment is ASCII, which the MAC is computed over.
    claims_json = b64url_decode(claims_segment)
    expected = hmac.new(secret, claims_segment.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise InvalidToken("bad signature")
    claims = _parse_claims(claims_json)
    _check_times(claims, now=now, max_ttl_s=max_ttl_s, max_skew_s=max_skew_s)
    return claims


def _parse_claims(raw: bytes) -> Claims:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidToken("malformed: claims are not JSON") from None
    if not isinstance(data, dict):
        raise InvalidToken("malformed: claims are not an object")
    iat, exp, nonce = data.get("iat"), data.get("exp"), data.get("nonce")
    # bool is an int subclass; `true` is not a timestamp.
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise InvalidToken("malformed: iat must be an integer")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise InvalidToken("malformed: exp must be an integer")
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_CHARS:
        raise InvalidToken("malformed: nonce must be a non-empty string")
    optional: dict[str, str | None] = {}
    for name in OPTIONAL_CLAIMS:
        value = data.get(name)
        # null is how PHP's json_encode writes an unset value: treat it as absent.
        if value is None:
            optional[name] = None
        elif name == "user_id":
            optional[name] = _user_id_claim(value)
        elif not isinstance(value, str) or not value:
            # An empty claim would be ambiguous (bind to "nothing" or to anything?): refuse it.
            raise InvalidToken(f"malformed: {name} must be a non-empty string")
        else:
            optional[name] = value
    if optional["scope"] not in (None, SERVICE_SCOPE):
        raise InvalidToken(f"malformed: scope must be {SERVICE_SCOPE!r}")
    return Claims(iat=iat, exp=exp, nonce=nonce, **optional)


def _user_id_claim(value: object) -> str:
    """PHP's json_encode writes Laravel's integer ids as numbers; "42" is accepted too."""
    try:
        return canonical_user_id(value)
    except ValueError:
        raise InvalidToken("malformed: user_id must be a positive integer or its decimal string") from None


def _check_times(claims: Claims, *, now: float, max_ttl_s: int, max_skew_s: int) -> None:
    if claims.exp <= claims.iat:
        raise InvalidToken("exp is not after iat")
    if claims.exp - claims.iat > max_ttl_s:
        raise InvalidToken("lifetime over the maximum ttl")
    if claims.iat > now + max_skew_s:
        raise InvalidToken("issued in the future")
    if claims.exp <= now:
        raise InvalidToken("expired")
