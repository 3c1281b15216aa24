"""A thread's conversation: each earlier run's prompt and its completed messages."""

from __future__ import annotations

from ..core import events as ev
from ..core.context import prompt_message
from ..core.messages import ChatMessage
from ..core.records import RunRecord
from ..ports import EventStore


async def run_messages(store: EventStore, record: RunRecord) -> list[ChatMessage]:
    """The run's prompt followed by the assistant messages it completed."""
    out = list(prompt_message(record.request))
    after = 0
    while True:
        page = await store.read_events(record.run_id, after, 1000)
        for event in page:
            if event.type == ev.MESSAGE_COMPLETED:
                p = event.payload
                out.append(
                    ChatMessage(role=p.get("role") or "assistant", content=p["text"], id=p["message_id"])
                )
        if len(page) < 1000:
            return out
        after = page[-1].seq


async def thread_history(store: EventStore, thread_id: str, before_run_id: str) -> list[ChatMessage]:
    """Messages of the thread's runs created before `before_run_id`."""
    history: list[ChatMessage] = []
    for record in await store.thread_runs(thread_id):
        if record.run_id == before_run_id:
            break
        history.extend(await run_messages(store, record))
    return history
