"""A thread's conversation: each earlier run's prompt and its completed messages.

The messages come from the thread messages projection (core/projections.py),
topped up from the log past the projector's checkpoint (store `thread_messages`),
so a turn right after the previous run finished sees all of that run's messages,
and a thread costs the same few statements however many runs it has.
"""

from __future__ import annotations

from typing import Protocol

from ..core import events as ev
from ..core.context import prompt_message
from ..core.messages import ChatMessage
from ..core.records import RunRecord
from ..core.run_state import RunStatus
from ..ports import ProjectionStore, RunQueries


class ThreadReader(RunQueries, ProjectionStore, Protocol):
    """What reading a thread needs of the store."""


async def thread_conversation(
    store: ThreadReader, thread_id: str
) -> tuple[list[RunRecord], list[tuple[RunRecord, list[ChatMessage]]]]:
    """The thread's runs (oldest first) and, for each, its prompt then its messages (none
    for a rolled-back run: it is listed, but left out of the conversation)."""
    runs = await store.thread_runs(thread_id)
    if not runs:
        return [], []
    messages = await store.thread_messages(thread_id)
    return runs, [
        (r, [] if _rolled_back(r) else [*prompt_message(r.request), *messages.get(r.run_id, ())])
        for r in runs
    ]


async def thread_history(store: ThreadReader, thread_id: str, before_run_id: str) -> list[ChatMessage]:
    """Messages of the thread's runs created before `before_run_id`."""
    earlier: list[RunRecord] = []
    for record in await store.thread_runs(thread_id):
        if record.run_id == before_run_id:
            break
        if not _rolled_back(record):
            earlier.append(record)
    if not earlier:
        return []  # a new thread: nothing more to read
    messages = await store.thread_messages(thread_id)
    history: list[ChatMessage] = []
    for record in earlier:
        history += [*prompt_message(record.request), *messages.get(record.run_id, ())]
    return history


def _rolled_back(record: RunRecord) -> bool:
    """A later run of the thread canceled this one with the rollback policy: it is left out
    of the thread's conversation, prompt and output (core/admission.py)."""
    return record.status is RunStatus.CANCELED and record.finish_reason == ev.FINISH_ROLLED_BACK
