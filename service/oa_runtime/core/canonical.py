"""Canonical JSON: one spelling per value, for hashes, fingerprints and text columns."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any, *, allow_nan: bool = True) -> str:
    """Sorted keys, no spaces, UTF-8 as is. `allow_nan=False` refuses NaN/Infinity
    (ValueError), which are not JSON, where a value must parse anywhere."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)
