"""The service token, pure: minting, every rejection, rotation, claim binding, config."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from oa_runtime.auth.access import EVERY_RUN, Caller, Target, authorize
from oa_runtime.auth.token import (
    Claims,
    Keyring,
    TokenPolicy,
    mint_token,
    verify_token,
)
from oa_runtime.core.errors import (
    ClaimMismatch,
    DomainError,
    InvalidArgument,
    InvalidToken,
    RunNotFound,
    UnboundToken,
)

SECRET = b"test-secret"
NOW = 1_700_000_000
KEYRING = Keyring(keys={"default": SECRET})

# A token computed outside Python (printf | base64 | openssl dgst -sha256 -hmac), as a
# PHP signer would: JSON with spaces, so only the segment as sent can verify.
LARAVEL_SECRET = b"laravel-secret"
LARAVEL_VECTOR = (
    "v1.eyJpYXQiOiAxNzAwMDAwMDAwLCAiZXhwIjogMTcwMDAwMDA2MCwgIm5vbmNlIjogIm4tMDAwMSIsICJydW5faWQiOiAi"
    "cnVuXzEiLCAidXNlcl9pZCI6ICI0MiJ9.rpajmgJJQi2qiAKjwwAw6gw8lFsqEz7p9Kn8u7_uqJY"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_token(claims: object, secret: bytes = SECRET, *, raw_json: str | None = None) -> str:
    """A token built with hmac/base64 directly, independent of the module under test."""
    text = raw_json if raw_json is not None else json.dumps(claims)
    segment = b64url(text.encode())
    mac = hmac.new(secret, segment.encode(), hashlib.sha256).digest()
    return f"v1.{segment}.{b64url(mac)}"


def verify(token: str, *, keyring: Keyring = KEYRING, key_id: str | None = None, now: float = NOW) -> Claims:
    return verify_token(token, keyring, key_id, now=now, max_ttl_s=60, max_skew_s=30)


def problem_of(token: str, *, keyring: Keyring = KEYRING, key_id: str | None = None, now: float = NOW) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify(token, keyring=keyring, key_id=key_id, now=now)
    assert caught.value.code == "UNAUTHENTICATED" and caught.value.reason == "INVALID_TOKEN"
    return caught.value.metadata["problem"]


# ----- happy paths -----


def test_minted_token_verifies_with_its_claims() -> None:
    token = mint_token(
        SECRET,
        ttl_s=60,
        now=NOW + 0.7,
        nonce="n1",
        run_id="r1",
        thread_id="t1",
        user_id=42,
        guest_scope="g",
    )
    assert token.startswith("v1.") and "=" not in token
    assert verify(token, now=NOW + 1) == Claims(
        iat=NOW, exp=NOW + 60, nonce="n1", run_id="r1", thread_id="t1", user_id="42", guest_scope="g"
    )


@pytest.mark.parametrize("user_id", [42, "42"], ids=["php-int", "string"])
def test_an_integer_user_id_claim_and_its_string_form_are_the_same_user(user_id: int | str) -> None:
    """PHP's json_encode writes Laravel's integer ids as JSON numbers."""
    token = hand_token({"iat": NOW, "exp": NOW + 60, "nonce": "n", "user_id": user_id})
    assert verify(token).user_id == "42"


def test_minted_token_omits_absent_claims_and_draws_a_fresh_nonce() -> None:
    first = verify(mint_token(SECRET, ttl_s=30, now=NOW))
    second = verify(mint_token(SECRET, ttl_s=30, now=NOW))
    assert (first.run_id, first.thread_id, first.user_id, first.guest_scope) == (None, None, None, None)
    assert first.nonce and first.nonce != second.nonce


def test_externally_computed_vector_verifies() -> None:
    claims = verify(LARAVEL_VECTOR, keyring=Keyring(keys={"default": LARAVEL_SECRET}), now=NOW + 5)
    assert claims == Claims(iat=NOW, exp=NOW + 60, nonce="n-0001", run_id="run_1", user_id="42")


def test_hand_built_token_verifies_and_minting_matches_hand_computation() -> None:
    claims = {"iat": NOW, "exp": NOW + 10, "nonce": "abc", "thread_id": "t-9"}
    assert verify(hand_token(claims)) == Claims(iat=NOW, exp=NOW + 10, nonce="abc", thread_id="t-9")
    minted = mint_token(SECRET, ttl_s=10, now=NOW, nonce="abc", thread_id="t-9")
    _, segment, mac = minted.split(".")
    assert json.loads(base64.urlsafe_b64decode(segment + "==")) == claims
    assert mac == b64url(hmac.new(SECRET, segment.encode(), hashlib.sha256).digest())


def test_null_optional_claims_count_as_absent() -> None:
    token = hand_token({"iat": NOW, "exp": NOW + 5, "nonce": "n", "user_id": None})
    assert verify(token).user_id is None


def test_boundaries_that_are_still_valid() -> None:
    # Issued exactly max_skew ahead, lifetime exactly max_ttl, one second before expiry.
    assert verify(mint_token(SECRET, ttl_s=60, now=NOW + 30))
    assert verify(mint_token(SECRET, ttl_s=60, now=NOW), now=NOW + 59)


# ----- rotation -----


def test_key_id_selects_the_secret_for_rotation() -> None:
    keyring = Keyring(keys={"old": b"old-secret", "new": b"new-secret"}, default_key_id="new")
    old_token = mint_token(b"old-secret", ttl_s=60, now=NOW)
    new_token = mint_token(b"new-secret", ttl_s=60, now=NOW)
    assert verify(old_token, keyring=keyring, key_id="old")
    assert verify(new_token, keyring=keyring, key_id="new")
    assert verify(new_token, keyring=keyring, key_id=None)  # no key id: the default
    assert verify(new_token, keyring=keyring, key_id="")
    assert problem_of(old_token, keyring=keyring) == "bad signature"
    assert problem_of(old_token, keyring=keyring, key_id="retired") == "unknown key id"


# ----- rejections -----


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("", "missing"),
        ("v1.abc", "malformed: expected 3 segments"),
        ("v1.a.b.c", "malformed: expected 3 segments"),
        ("v2" + mint_token(SECRET, ttl_s=60, now=NOW)[2:], "unsupported version"),
        ("v1.eyJ+.AAAA", "malformed: not base64url"),  # '+' is not base64url
        ("v1.eyJ9.AAAA=", "malformed: not base64url"),  # padding is not sent
        ("v1.e.AAAA", "malformed: not base64url"),  # impossible length
        ("v1.eyK.AAAA", "malformed: not base64url"),  # non-canonical trailing bits
        ("v1." + "A" * 9000 + ".AAAA", "malformed: too long"),
    ],
)
def test_malformed_tokens_are_rejected(token: str, problem: str) -> None:
    assert problem_of(token) == problem


@pytest.mark.parametrize(
    ("raw_json", "problem"),
    [
        ("not json", "malformed: claims are not JSON"),
        ("[1, 2]", "malformed: claims are not an object"),
        ('{"iat": "1700000000", "exp": 1700000060, "nonce": "n"}', "malformed: iat must be an integer"),
        ('{"iat": true, "exp": 1700000060, "nonce": "n"}', "malformed: iat must be an integer"),
        ('{"iat": 1700000000, "exp": 1700000060.5, "nonce": "n"}', "malformed: exp must be an integer"),
        ('{"iat": 1700000000, "nonce": "n"}', "malformed: exp must be an integer"),
        ('{"iat": 1700000000, "exp": 1700000060}', "malformed: nonce must be a non-empty string"),
        (
            '{"iat": 1700000000, "exp": 1700000060, "nonce": ""}',
            "malformed: nonce must be a non-empty string",
        ),
        ('{"iat": 1700000000, "exp": 1700000060, "nonce": 7}', "malformed: nonce must be a non-empty string"),
        (
            '{"iat": 1700000000, "exp": 1700000060, "nonce": "n", "run_id": 5}',
            "malformed: run_id must be a non-empty string",
        ),
        *[
            (
                '{"iat": 1700000000, "exp": 1700000060, "nonce": "n", "user_id": ' + bad + "}",
                "malformed: user_id must be a positive integer or its decimal string",
            )
            for bad in ('""', '"alice"', '"042"', "0", "-1", "4.2", "true", "9223372036854775808", '" 42"')
        ],
        (
            '{"iat": 1700000000, "exp": 1700000060, "nonce": "n", "scope": "admin"}',
            "malformed: scope must be 'service'",
        ),
    ],
)
def test_signed_but_malformed_claims_are_rejected(raw_json: str, problem: str) -> None:
    assert problem_of(hand_token(None, raw_json=raw_json)) == problem


def test_bad_mac_is_rejected() -> None:
    token = mint_token(SECRET, ttl_s=60, now=NOW, run_id="r1")
    version, segment, mac = token.split(".")
    forged_segment = b64url(json.dumps({"iat": NOW, "exp": NOW + 60, "nonce": "x", "run_id": "r2"}).encode())
    assert problem_of(f"{version}.{forged_segment}.{mac}") == "bad signature"
    assert problem_of(mint_token(b"other-secret", ttl_s=60, now=NOW)) == "bad signature"
    # A truncated MAC; 40 characters decode without leftover padding bits.
    assert problem_of(f"{version}.{segment}.{mac[:40]}") == "bad signature"
    assert problem_of(f"{version}.{segment}.") == "bad signature"


def test_expired_token_is_rejected_at_and_after_exp() -> None:
    token = mint_token(SECRET, ttl_s=60, now=NOW)
    assert problem_of(token, now=NOW + 60) == "expired"
    assert problem_of(token, now=NOW + 3600) == "expired"


def test_token_issued_too_far_in_the_future_is_rejected() -> None:
    assert problem_of(mint_token(SECRET, ttl_s=60, now=NOW + 31)) == "issued in the future"


def test_exp_not_after_iat_is_rejected() -> None:
    assert problem_of(hand_token({"iat": NOW, "exp": NOW, "nonce": "n"})) == "exp is not after iat"
    assert problem_of(hand_token({"iat": NOW, "exp": NOW - 1, "nonce": "n"})) == "exp is not after iat"


def test_lifetime_over_the_ttl_is_rejected() -> None:
    assert problem_of(mint_token(SECRET, ttl_s=61, now=NOW)) == "lifetime over the maximum ttl"
    token = mint_token(SECRET, ttl_s=20, now=NOW)
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(token, KEYRING, None, now=NOW, max_ttl_s=10, max_skew_s=30)


# ----- access rules (pure; the same table through Envoy: tests/e2e_envoy/test_access.py) -----

RUN = Target(run_id="r1", thread_id="t1", owner="42")


def claims(**values: str) -> Claims:
    return Claims(iat=NOW, exp=NOW + 60, nonce="n", **values)


def refusal(caller: Caller, target: Target, *, allow_service: bool = False) -> DomainError | None:
    try:
        authorize(caller, target, allow_service_scope=allow_service)
    except DomainError as err:
        return err
    return None


def test_every_binding_claim_must_match_the_resource() -> None:
    assert refusal(Caller(claims(run_id="r1", thread_id="t1", user_id="42")), RUN) is None
    for name, value in (("run_id", "r2"), ("thread_id", "t2"), ("user_id", "43")):
        err = refusal(Caller(claims(**{name: value})), RUN)
        assert isinstance(err, ClaimMismatch) and err.metadata == {"claim": name}


def test_an_unbound_token_needs_the_enabled_service_scope() -> None:
    assert isinstance(refusal(Caller(claims()), RUN), UnboundToken)
    assert isinstance(refusal(Caller(claims(scope="service")), RUN), UnboundToken)
    assert isinstance(refusal(Caller(claims(guest_scope="g"), guest_scope_header="g"), RUN), UnboundToken)
    assert refusal(Caller(claims(scope="service")), RUN, allow_service=True) is None
    assert refusal(Caller(claims(scope="service")), EVERY_RUN, allow_service=True) is None


def test_listing_every_run_is_for_service_tokens_only() -> None:
    for name, value in (("run_id", "r1"), ("thread_id", "t1"), ("user_id", "42")):
        assert isinstance(refusal(Caller(claims(**{name: value})), EVERY_RUN), ClaimMismatch)


def test_the_user_header_only_narrows() -> None:
    assert refusal(Caller(claims(run_id="r1"), user_header="42"), RUN) is None
    for header in ("43", "7"):
        assert isinstance(refusal(Caller(claims(run_id="r1"), user_header=header), RUN), ClaimMismatch)
        assert isinstance(refusal(Caller(claims(user_id="42"), user_header=header), RUN), ClaimMismatch)
    assert isinstance(refusal(Caller(claims(run_id="r1"), user_header="bob"), RUN), InvalidArgument)


def test_a_run_not_created_yet_is_named_only_by_a_token_for_it() -> None:
    pending = Target(run_id="r9", exists=False)
    assert refusal(Caller(claims(run_id="r9", thread_id="t1", user_id="42")), pending) is None
    assert isinstance(refusal(Caller(claims(thread_id="t1", user_id="42")), pending), RunNotFound)
    assert isinstance(refusal(Caller(claims(run_id="r8")), pending), ClaimMismatch)


def test_a_thread_without_runs_binds_its_id_but_has_no_owner_yet() -> None:
    empty = Target(thread_id="t9", exists=False)
    assert refusal(Caller(claims(thread_id="t9", user_id="42")), empty) is None
    assert isinstance(refusal(Caller(claims(thread_id="t1")), empty), ClaimMismatch)
    assert isinstance(refusal(Caller(claims(run_id="r1")), empty), ClaimMismatch)


def test_guest_scope_claim_binds_the_guest_header() -> None:
    bound = claims(run_id="r1", guest_scope="g")
    assert refusal(Caller(bound, guest_scope_header="g"), RUN) is None
    for header in ("h", None):
        err = refusal(Caller(bound, guest_scope_header=header), RUN)
        assert isinstance(err, ClaimMismatch) and err.metadata == {"claim": "guest_scope"}


# ----- configuration -----


def test_keyring_from_env_single_secret() -> None:
    keyring = Keyring.from_env({"RUNTIME_SIGNING_SECRET": "s3cret"})
    assert keyring.default_key_id == "default" and keyring.secret_for(None) == b"s3cret"


def test_keyring_from_env_rotation_list() -> None:
    keyring = Keyring.from_env(
        {
            "RUNTIME_SIGNING_SECRET": "base",
            "RUNTIME_SIGNING_KEYS": "k1:one, k2:two:with:colons ,",
            "RUNTIME_SIGNING_DEFAULT_KEY_ID": "k2",
        }
    )
    assert keyring.default_key_id == "k2"
    assert keyring.secret_for(None) == b"two:with:colons"
    assert keyring.secret_for("k1") == b"one" and keyring.secret_for("default") == b"base"
    assert Keyring.from_env({"RUNTIME_SIGNING_KEYS": "only:one"}).default_key_id == "only"


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"RUNTIME_SIGNING_SECRET": ""},
        {"RUNTIME_SIGNING_KEYS": "a:1,b:2"},  # several keys and no default named
        {"RUNTIME_SIGNING_SECRET": "s", "RUNTIME_SIGNING_DEFAULT_KEY_ID": "missing"},
        {"RUNTIME_SIGNING_KEYS": "no-colon"},
    ],
)
def test_keyring_from_env_refuses_to_start_open_or_ambiguous(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Keyring.from_env(environ)


def test_keyring_never_prints_its_secrets() -> None:
    assert "s3cret" not in repr(Keyring(keys={"default": b"s3cret"}))


def test_token_policy_from_env() -> None:
    assert TokenPolicy.from_env({}) == TokenPolicy(max_ttl_s=60, max_skew_s=30)
    assert TokenPolicy.from_env(
        {"RUNTIME_TOKEN_TTL_S": "120", "RUNTIME_TOKEN_MAX_SKEW_S": "5"}
    ) == TokenPolicy(max_ttl_s=120, max_skew_s=5)
