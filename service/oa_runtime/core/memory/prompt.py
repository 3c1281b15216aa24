"""The summary prompt every compaction sends, and the deterministic summary the scripted model writes.

The prompt's first user line is a header the scripted provider can parse
(``memory-summary L1 stream=agent:a1 window=2026-11-30T00:00:00+00:00/2026-11-30T00:10:00+00:00``),
followed by one input per line: raw events rendered compactly (L1) or the child summaries (L2/L3),
each child as ``[<chunk id> <window start>] <summary on one line>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .chunks import Chunk, Level, StreamRef, Window
from .raw import RawEvent, render_event

SUMMARY_INSTRUCTIONS = """\
You maintain the long-term memory of an autonomous agent. Summarise the inputs below for the agent's
future self. Keep, as short bullet points under these headings:
- Facts: what was learned about the user, the task and the world (names, numbers, ids, paths).
- Decisions: what was decided or done, and why.
- Open questions: what is still unknown, promised or waiting for an answer.
- Tool outcomes: each tool call that mattered, its input in brief and its result or error.
Never invent anything that is not in the inputs. Keep ids, seqs and numbers verbatim so a reader can
expand back to the source. Drop chatter, repetition and formatting. Write plain text, at most
{max_words} words.
"""

HEADER = "memory-summary"
_EVENT_LINE_RE = re.compile(r"#\d+ ")
_HEADER_RE = re.compile(rf"^{HEADER} (L[123]) stream=(\S+) window=(\S+)/(\S+)$")

# Summary length targets per level (words): coarser levels must stay small, they are what fits
# in the context when history is long.
MAX_WORDS: dict[Level, int] = {Level.L1: 250, Level.L2: 200, Level.L3: 300}


@dataclass(frozen=True, slots=True)
class SummaryPrompt:
    """A system instruction and one user message: what the ModelProvider port receives."""

    system: str
    user: str


def _header(level: Level, stream: StreamRef, window: Window) -> str:
    return f"{HEADER} {level.name} stream={stream} window={window.start.isoformat()}/{window.end.isoformat()}"


def l1_prompt(stream: StreamRef, window: Window, events: Sequence[RawEvent]) -> SummaryPrompt:
    """The prompt of an L1 chunk: the window's raw events, one compact line each, in seq order."""
    lines = [render_event(e) for e in sorted(events, key=lambda e: e.seq)]
    return _prompt(Level.L1, stream, window, lines)


def rollup_prompt(
    level: Level, stream: StreamRef, window: Window, children: Sequence[Chunk]
) -> SummaryPrompt:
    """The prompt of an L2/L3 roll-up: the child summaries, oldest first, each on one line."""
    if level == Level.L1:
        raise ValueError("an L1 chunk summarises raw events: use l1_prompt")
    ordered = sorted(children, key=lambda c: c.window)
    lines = [f"[{c.chunk_id} {c.window.start.isoformat()}] {' '.join(c.summary.split())}" for c in ordered]
    return _prompt(level, stream, window, lines)


def _prompt(level: Level, stream: StreamRef, window: Window, lines: list[str]) -> SummaryPrompt:
    system = SUMMARY_INSTRUCTIONS.format(max_words=MAX_WORDS[level])
    return SummaryPrompt(system, "\n".join([_header(level, stream, window), *lines]))


def is_summary_prompt(user: str) -> bool:
    return _HEADER_RE.match(user.split("\n", 1)[0]) is not None


def scripted_summary(user: str) -> str:
    """The deterministic summary the scripted provider writes for a summary prompt's user message.

    A pure function of the prompt: the level, stream and window from the header, how many inputs,
    the seq range (L1) or child ids (roll-ups), the distinct event types, and a digest of the
    inputs, so a test can predict every chunk's text and an edit to any input changes it.
    """
    first, _, body = user.partition("\n")
    match = _HEADER_RE.match(first)
    if match is None:
        raise ValueError("not a memory summary prompt")
    level, stream, start, end = match.groups()
    # An L1 input starts a line with "#<seq> "; a value with line breaks in it (a multi-line
    # prompt) continues its event on the next lines. A roll-up's inputs are one line each.
    lines = [line for line in body.split("\n") if line]
    inputs = [line for line in lines if _EVENT_LINE_RE.match(line)] if level == "L1" else lines
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    if level == "L1":
        seqs = [int(line[1:].split(" ", 1)[0]) for line in inputs]
        kinds = sorted({line.split(" ")[2] for line in inputs})
        covered = f"seq {min(seqs)}-{max(seqs)}" if seqs else "no events"
        detail = f"{len(inputs)} events ({covered}); types: {', '.join(kinds) or '-'}"
    else:
        ids = [line[1:].split(" ", 1)[0] for line in inputs]
        detail = f"{len(ids)} summaries: {', '.join(ids)}"
    return f"{level} {stream} {start}/{end}: {detail}; digest {digest}"
