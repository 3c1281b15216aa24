"""Subscribe: each topic's sync documents from a cursor, then live (the use case; api/sync.py
converts). Per round and topic: the documents of the serving projection version changed after
the topic's cursor, a page at a time; the first page that is not full completes the (re)play.
Between rounds the stream waits for this replica's projector (`SyncFeed`) or `poll_s`.

Cursors are `v<version>.<position>` (core/sync.py). A page is one statement, which sees whole
projection steps; so the watermark after a page that is not full can be the serving checkpoint
read before it, or the last document's position when that is higher.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from ..core.sync import SYNC_PROJECTION_VERSION, Cursor, Serving, SyncDocument, resync_needed
from ..engine.sync_projector import SyncFeed
from ..ports import SyncStore


@dataclass
class TopicState:
    kind: str  # the document kind of the topic
    name: str  # the topic as the client named it (for errors)
    ids: Sequence[str]
    cursor: Cursor | None
    replaying: bool = True


@dataclass(frozen=True)
class TopicBatch:
    topic: TopicState
    documents: list[SyncDocument] = field(default_factory=list)
    watermark: Cursor | None = None
    replay_complete: bool = False
    full_resync_required: bool = False


async def subscribe(
    store: SyncStore, feed: SyncFeed, topics: Sequence[TopicState], *, batch: int, poll_s: float
) -> AsyncIterator[TopicBatch]:
    """Until the caller stops iterating."""
    while True:
        serving = await store.sync_serving() or Serving(SYNC_PROJECTION_VERSION, 0, 0)
        more = False
        for topic in topics:
            if resync_needed(topic.cursor, serving.version, serving.horizon, serving.position):
                topic.cursor, topic.replaying = None, True
                yield TopicBatch(topic, full_resync_required=True)
            after = topic.cursor.position if topic.cursor is not None else 0
            docs = await store.sync_changes(serving.version, topic.kind, topic.ids, after, batch)
            full = len(docs) >= batch
            more = more or full
            if not docs and not topic.replaying:
                continue
            end = (
                docs[-1].position if full else max(serving.position, docs[-1].position if docs else 0, after)
            )
            topic.cursor = Cursor(serving.version, end)
            complete = topic.replaying and not full
            topic.replaying = topic.replaying and full
            yield TopicBatch(topic, docs, topic.cursor, replay_complete=complete)
        if not more:
            await feed.wait(poll_s)
