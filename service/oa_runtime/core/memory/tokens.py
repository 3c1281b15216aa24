"""Counting tokens: a real tokenizer where one is available offline, else an estimate that errs high.

`TokenCounter` is the port. Two implementations:

* `TiktokenCounter` wraps a tiktoken BPE encoding built from the bytes of its ``.tiktoken`` file.
  The bytes come from a configured local cache directory (the edge reads the file; the core does
  no I/O) and must match the encoding's published SHA-256; nothing is ever downloaded.
* `ByteEstimator` counts UTF-8 bytes. Every byte-level BPE token (tiktoken, and SentencePiece with
  byte fallback) is at least one byte, so the byte count is never below the real count, for any
  text and any such tokenizer. It is about 4x high on English prose: that is the price of
  never overrunning a model whose tokenizer is unknown. (A bytes/3 rule is not safe: random text
  measures up to 1.0 token per byte on cl100k_base, and random printable ASCII about 0.8.)

Context assembly adds `MESSAGE_OVERHEAD_TOKENS` per part (role and separators of a chat message).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Protocol

MESSAGE_OVERHEAD_TOKENS = 4


class TokenCounter(Protocol):
    """Counts the tokens of a text for one model family. `name` is recorded with every count."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


class ByteEstimator:
    """An upper bound for any byte-level BPE tokenizer: the UTF-8 byte count."""

    @property
    def name(self) -> str:
        return "estimate:utf8-bytes"

    def count(self, text: str) -> int:
        return len(text.encode("utf-8", "surrogatepass"))


class UnverifiedEncoding(ValueError):
    """The encoding file's bytes do not have the published SHA-256 (corrupt or a different file)."""


# Encodings this runtime knows how to build offline: the file's SHA-256 (as tiktoken publishes
# it), the pre-tokenizer pattern and the special tokens (from tiktoken_ext.openai_public).
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
    r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
KNOWN_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}


def parse_tiktoken_file(data: bytes) -> dict[bytes, int]:
    """The mergeable ranks of a ``.tiktoken`` file: one ``<base64 token> <rank>`` per line."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


class TiktokenCounter:
    """Exact counts with a tiktoken encoding built from a verified local file."""

    def __init__(self, encoding_name: str, file_bytes: bytes) -> None:
        if encoding_name not in KNOWN_ENCODINGS:
            raise ValueError(f"unknown encoding {encoding_name!r}; known: {sorted(KNOWN_ENCODINGS)}")
        expected, pattern, special = KNOWN_ENCODINGS[encoding_name]
        actual = hashlib.sha256(file_bytes).hexdigest()
        if actual != expected:
            raise UnverifiedEncoding(f"{encoding_name}: SHA-256 {actual}, expected {expected}")
        self._name = f"tiktoken:{encoding_name}"
        import tiktoken  # here: without a configured encoding the service starts without it

        self._encoding = tiktoken.Encoding(
            name=encoding_name,
            pat_str=pattern,
            mergeable_ranks=parse_tiktoken_file(file_bytes),
            special_tokens=special,
        )

    @property
    def name(self) -> str:
        return self._name

    def count(self, text: str) -> int:
        # Special-token text in a model's context is plain text, not a control token.
        return len(self._encoding.encode_ordinary(text))


def counter_for(encoding_name: str | None, read_cached: Callable[[str], bytes | None]) -> TokenCounter:
    """The counter for a model: tiktoken when `encoding_name` is known and its file is in the local
    cache (`read_cached(file_name)` returns the bytes of ``<encoding>.tiktoken`` or None), else the
    estimator. A file that is present but fails its SHA-256 check raises: a misconfiguration to fix,
    not a reason to count with a tokenizer nobody vetted."""
    if encoding_name is None or encoding_name not in KNOWN_ENCODINGS:
        return ByteEstimator()
    data = read_cached(f"{encoding_name}.tiktoken")
    return ByteEstimator() if data is None else TiktokenCounter(encoding_name, data)
