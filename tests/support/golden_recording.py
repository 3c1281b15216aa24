"""Records tests/golden/tool_roundtrip.events.json: the log the real service writes for a
scripted run that says something, calls a tool that reports progress, and answers.

    .venv/bin/python -m tests.support.golden_recording
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_frames.py tests/test_golden_fold.py

The second line rewrites the .sse and .state.json beside it; review their diff like code.
The run's ids are the goldens' usual ones (run-1, thread-1, exec-1), so nothing is rewritten
after recording. A long flush window makes the recording deterministic: the first text
delta goes out at once and the rest of the message when the model's stream ends, and the
tool's progress is recorded alone before its result.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from oa_runtime.ports import ToolSpec
from oa_runtime.store import open_store
from oa_runtime.tools.registry import Tool, ToolContext

from tests.e2e.helpers import events, start
from tests.support.runtime import running_runtime

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tool_roundtrip.events.json"
RUN_ID, THREAD_ID, EXECUTOR_ID = "run-1", "thread-1", "exec-1"
PROMPT = '/say Let me look.\n/tool get_weather {"city": "Oslo"}\n/say It is -3 °C and snowing in Oslo.'
# Long enough that no delta or progress window passes mid-recording on a loaded machine.
FLUSH_WINDOW_MS = 1000


async def _get_weather(args: dict[str, Any], ctx: ToolContext) -> Any:
    ctx.progress({"status": "fetching"})
    await asyncio.sleep(0.2)  # the progress is recorded in a batch of its own
    return {"temp_c": -3, "sky": "snow"}


TOOLS = [
    Tool(
        ToolSpec(
            "get_weather",
            "the weather in a city",
            {"type": "object", "properties": {"city": {"type": "string"}}},
        ),
        _get_weather,
    )
]


async def record() -> dict[str, Any]:
    """The run's log as the golden files hold it: {"run_id", "events": [{seq, type, payload}]}."""
    with tempfile.TemporaryDirectory(prefix="oa-golden-") as work:
        url = f"sqlite:///{Path(work) / 'golden.db'}"
        env = {
            "RUNTIME_TOOLS_CONFIG": json.dumps({"python": [f"{__name__}:TOOLS"]}),
            "RUNTIME_EXECUTOR_ID": EXECUTOR_ID,
            "RUNTIME_FLUSH_WINDOW_MS": str(FLUSH_WINDOW_MS),
        }
        async with running_runtime(url, env) as rt:
            await start(rt, RUN_ID, PROMPT, thread_id=THREAD_ID)
            await events(rt, RUN_ID)  # to the run's end
        store = open_store(url)
        await store.open()
        try:
            log = await store.read_events(RUN_ID, 0, 1000)
        finally:
            await store.close()
    return {"run_id": RUN_ID, "events": [{"seq": e.seq, "type": e.type, "payload": e.payload} for e in log]}


def main() -> None:
    doc = asyncio.run(record())
    GOLDEN.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{GOLDEN}: {len(doc['events'])} events")


if __name__ == "__main__":
    main()
