"""Keyset page tokens shared by the list use cases: (created_at, id) of a page's last row,
bound to the filters they were issued for (a token used with other filters is refused)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime

from ..core.errors import InvalidArgument
from ..core.validation import sha256_hex


def encode_page_token(created_at: datetime, row_id: str, filters: Mapping[str, object]) -> str:
    doc = {"c": created_at.isoformat(), "w": row_id, "f": sha256_hex(dict(filters))[:16]}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: Mapping[str, object]) -> tuple[str, str]:
    """(created_at ISO string, id) of the previous page's last row."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created, row_id, fp = doc["c"], doc["w"], doc["f"]
        datetime.fromisoformat(created)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidArgument("page_token", "is not a token this service issued") from exc
    if fp != sha256_hex(dict(filters))[:16]:
        raise InvalidArgument("page_token", "was issued for different filters")
    return str(created), str(row_id)
