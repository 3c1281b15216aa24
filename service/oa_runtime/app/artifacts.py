"""Artifacts: list a run's, thread's or agent's, and read one's bytes in chunks.

Each use case validates its input (ids, the digest, page sizes, tokens, ranges) before the
store is read. A fetch reads one chunk at a time, so an artifact of any size costs a fetch
at most one chunk of memory.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..core.artifacts import (
    CHUNK_BYTES,
    Artifact,
    ArtifactNotFound,
    ArtifactScope,
    PageKey,
    is_sha256,
    page_key,
)
from ..core.errors import InvalidArgument
from ..core.validation import require_id
from ..ports import ArtifactStore

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100


def scope_of(run_id: str, thread_id: str, agent_id: str) -> ArtifactScope:
    """The scope a request names: exactly one valid id."""
    named = [(f, v) for f, v in (("run_id", run_id), ("thread_id", thread_id), ("agent_id", agent_id)) if v]
    if len(named) != 1:
        raise InvalidArgument("run_id", "name exactly one of run_id, thread_id and agent_id")
    field, value = named[0]
    return ArtifactScope(**{field: require_id(field, value)})


def _scope_text(scope: ArtifactScope) -> str:
    return f"{scope.run_id}|{scope.thread_id}|{scope.agent_id}"


def encode_page_token(scope: ArtifactScope, key: PageKey) -> str:
    raw = json.dumps([_scope_text(scope), *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(scope: ArtifactScope, token: str) -> PageKey | None:
    """The keyset position a token names; InvalidArgument for a token that is not ours or
    was issued for another run, thread or agent."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        scope_text, at, owner, seq, sha256 = json.loads(raw)
        valid = isinstance(at, str) and isinstance(owner, str) and isinstance(sha256, str)
        if not valid or not isinstance(seq, int) or scope_text != _scope_text(scope):
            raise ValueError("not a page token of this listing")
    except (binascii.Error, ValueError, TypeError):
        raise InvalidArgument("page_token", "not a page token of this listing") from None
    return (at, owner, seq, sha256)


async def list_artifacts(
    store: ArtifactStore, scope: ArtifactScope, page_size: int, page_token: str
) -> tuple[list[Artifact], str]:
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    limit = page_size or DEFAULT_PAGE_SIZE
    after = decode_page_token(scope, page_token)
    page = await store.list_artifacts(scope, limit=limit + 1, after=after)
    if len(page) <= limit:
        return page, ""
    return page[:limit], encode_page_token(scope, page_key(page[limit - 1]))


@dataclass(frozen=True, slots=True)
class Fetch:
    """An artifact about to be sent, and the byte range to send."""

    artifact: Artifact
    offset: int
    end: int


async def open_fetch(
    store: ArtifactStore, scope: ArtifactScope, sha256: str, offset: int, length: int
) -> Fetch:
    """Checks the request and that the scope has the artifact (ARTIFACT_NOT_FOUND if not)."""
    if not is_sha256(sha256):
        raise InvalidArgument("sha256", "must be 64 lowercase hex digits")
    if offset < 0:
        raise InvalidArgument("offset", "must not be negative")
    if length < 0:
        raise InvalidArgument("length", "must not be negative (0: to the end)")
    artifact = await store.find_artifact(scope, sha256)
    if artifact is None:
        raise ArtifactNotFound(sha256)
    size = artifact.ref.size_bytes
    start = min(offset, size)
    end = size if length == 0 else min(size, start + length)
    return Fetch(artifact, start, end)


async def read_chunks(store: ArtifactStore, fetch: Fetch) -> AsyncIterator[bytes]:
    """The range's bytes, a chunk at a time; ArtifactNotFound if they are gone (retention)."""
    at = fetch.offset
    while at < fetch.end:
        data = await store.read_content(fetch.artifact.ref.sha256, at, min(CHUNK_BYTES, fetch.end - at))
        if not data:
            raise ArtifactNotFound(fetch.artifact.ref.sha256)
        yield data
        at += len(data)
