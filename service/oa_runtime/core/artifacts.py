"""Artifacts: blobs addressed by their SHA-256, and where they appeared. Pure.

A tool output over the inline limit is stored as an artifact; its `tool.result` event then
carries an `artifact` reference (digest, size, media type, name) and, as `output_json`, what the
model and the client see instead of the bytes: the reference plus a preview, and how to read
the rest (the `artifact_read` tool). The bytes are stored once per digest, whoever produced
them; the index says which run (and so which thread) or agent each one belongs to, at which seq.

The run index is the `artifact_index` async projection of `tool.result` events (rebuildable
from the log); an agent's own artifacts are indexed by their producer, and memory summaries
for their thread by the memory store, with their chunk (core/memory/records.summary_artifact).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import events as ev
from .canonical import canonical_json
from .errors import DomainError

OWNER_RUN = "run"
OWNER_AGENT = "agent"
JSON_MEDIA_TYPE = "application/json"
PREVIEW_BYTES = 1024  # what the model and the index keep of an artifact's start
CHUNK_BYTES = 256 * 1024  # the store cuts bytes into chunks of this size
DEFAULT_INLINE_MAX_BYTES = 64 * 1024  # RUNTIME_ARTIFACT_INLINE_MAX_BYTES
READ_TOOL = "artifact_read"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "ARTIFACT_NOT_FOUND"

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no artifact {sha256!r} here", sha256=sha256)


def is_sha256(value: str) -> bool:
    return bool(_SHA256.fullmatch(value))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def preview(data: bytes, limit: int = PREVIEW_BYTES) -> str:
    """The first `limit` bytes as text, never cutting a UTF-8 character in two."""
    return data[:limit].decode("utf-8", errors="ignore")


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """What an event carries instead of the bytes."""

    sha256: str
    size_bytes: int
    media_type: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "media_type": self.media_type,
            "name": self.name,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ArtifactRef:
        return ArtifactRef(
            str(data["sha256"]), int(data["size_bytes"]), str(data["media_type"]), str(data["name"])
        )


@dataclass(frozen=True, slots=True)
class Artifact:
    """One index entry: an artifact where it appeared."""

    ref: ArtifactRef
    owner_kind: str  # OWNER_RUN or OWNER_AGENT
    owner_id: str
    seq: int
    run_id: str
    thread_id: str
    agent_id: str
    producer: str  # "tool:<name>", "memory:<level>"
    preview: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArtifactScope:
    """Whose artifacts: exactly one of a run, a thread (its runs') or an agent."""

    run_id: str = ""
    thread_id: str = ""
    agent_id: str = ""

    def __post_init__(self) -> None:
        if sum(bool(x) for x in (self.run_id, self.thread_id, self.agent_id)) != 1:
            raise ValueError("an artifact scope names exactly one of run_id, thread_id, agent_id")


PageKey = tuple[str, str, int, str]


def page_key(artifact: Artifact) -> PageKey:
    """An artifact's keyset position in `ArtifactStore.list_artifacts` order."""
    at = artifact.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return (at, artifact.owner_id, artifact.seq, artifact.ref.sha256)


# ----- large tool outputs -----


@dataclass(frozen=True, slots=True)
class Offloaded:
    """A tool output moved out of its event: the bytes to store, the reference, and the
    `output_json` that stands in for the output (reference + preview + how to read on)."""

    data: bytes
    ref: ArtifactRef
    output_json: str


def offload(tool_name: str, tool_call_id: str, output_json: str, inline_max_bytes: int) -> Offloaded | None:
    """The artifact for a tool output over `inline_max_bytes` (UTF-8 bytes); None if it fits.

    `artifact_read`'s own output is never offloaded: the model must be able to read it."""
    data = output_json.encode("utf-8")
    if len(data) <= inline_max_bytes or tool_name == READ_TOOL:
        return None
    ref = ArtifactRef(digest(data), len(data), JSON_MEDIA_TYPE, f"{tool_name}-{tool_call_id}.json")
    stand_in = {
        "artifact": ref.to_json(),
        "preview": preview(data),
        "truncated": True,
        "note": (
            f"The output ({len(data)} bytes) is stored as artifact {ref.sha256}; the preview is its"
            f" first bytes. Call {READ_TOOL} with sha256 and offset to read more."
        ),
    }
    return Offloaded(data, ref, canonical_json(stand_in))


def ref_of(payload: Mapping[str, Any]) -> ArtifactRef | None:
    """The artifact reference a `tool.result` payload carries, if any."""
    raw = payload.get("artifact")
    if not isinstance(raw, Mapping):
        return None
    try:
        return ArtifactRef.from_json(raw)
    except (KeyError, TypeError, ValueError):
        return None


def stand_in_preview(payload: Mapping[str, Any]) -> str:
    """The preview inside a stand-in `output_json` ("" if there is none)."""
    try:
        value = json.loads(str(payload.get("output_json") or "{}"))
    except ValueError:
        return ""
    return str(value.get("preview", "")) if isinstance(value, dict) else ""


# ----- the run index, as an async projection -----


class ArtifactIndex:
    """Run artifacts from `tool.result` events that carry a reference; keyed (run, seq,
    sha256), so writing a change again is harmless. The thread is filled in by the sink
    from the run row (an event does not carry it)."""

    name = "artifact_index"
    version = 1
    event_types: frozenset[str] | None = frozenset({ev.TOOL_RESULT})

    def apply(self, event: ev.Event) -> Sequence[Artifact]:
        if event.stream_kind != ev.STREAM_RUN or event.type != ev.TOOL_RESULT:
            return ()
        ref = ref_of(event.payload)
        if ref is None:
            return ()
        return (
            Artifact(
                ref,
                OWNER_RUN,
                event.run_id,
                event.seq,
                event.run_id,
                "",
                "",
                "tool:" + str(event.payload.get("tool_name", "")),
                stand_in_preview(event.payload),
                event.occurred_at,
            ),
        )


ARTIFACT_INDEX = ArtifactIndex()
