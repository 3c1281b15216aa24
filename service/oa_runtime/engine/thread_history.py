"""A thread's conversation: each earlier run's prompt and the messages it completed."""

from __future__ import annotations

from ..core.context import prompt_message
from ..core.messages import ChatMessage
from ..core.records import RunRecord
from ..core.run_state import RunState, fold, said_messages
from ..ports import EventStore

PAGE = 1000


async def run_messages(store: EventStore, record: RunRecord) -> list[ChatMessage]:
    """The run's prompt followed by what it said: the fold of its log keeps completed
    messages only (text cut off mid-message is left out; see `said_messages`)."""
    state = RunState()
    while True:
        page = await store.read_events(record.run_id, state.last_seq, PAGE)
        state = fold(page, state)
        if len(page) < PAGE:
            return [*prompt_message(record.request), *said_messages(state)]


async def thread_history(store: EventStore, thread_id: str, before_run_id: str) -> list[ChatMessage]:
    """Messages of the thread's runs created before `before_run_id`."""
    history: list[ChatMessage] = []
    for record in await store.thread_runs(thread_id):
        if record.run_id == before_run_id:
            break
        history.extend(await run_messages(store, record))
    return history
