"""A hash that repeats: the same in every process and on every machine (Python's ``hash()`` is salted)."""

from __future__ import annotations

import hashlib


def stable_hash(text: str) -> int:
    """64-bit hash that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
