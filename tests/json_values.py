"""Random JSON values for the tests that compare a fast encoder's bytes with the pydantic path:
odd text (accents, CJK, emoji, quotes, long), big ints, floats of every scale, nesting."""

from __future__ import annotations

import random
from datetime import UTC, timedelta, timezone
from typing import Any

WORDS = ["a", "Viewed Pricing", "é", "日本語", "emoji 🎉", 'quote " and \\\\', "", "x" * 300]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


def json_value(rng: random.Random, depth: int = 0, *, hex_strings: bool = False) -> Any:
    """A scalar, or (above depth 2) an object or a list of such values; `hex_strings` adds
    ids spelled in hex to the scalars."""
    kinds = ["word", "int", "float", "constant", "scaled"]
    if hex_strings:
        kinds.append("hex")
    if depth < 2:
        kinds += ["object", "object", "list"]
    kind = kinds[rng.randrange(len(kinds))]
    if kind == "word":
        return rng.choice(WORDS)
    if kind == "int":
        return rng.randrange(-(2**40), 2**40)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "constant":
        return rng.choice([True, False, None])
    if kind == "scaled":
        return rng.random() * 10 ** rng.randrange(-8, 15)
    if kind == "hex":
        return f"{rng.getrandbits(64):x}"
    nested = (json_value(rng, depth + 1, hex_strings=hex_strings) for _ in range(rng.randrange(4)))
    if kind == "object":
        return {rng.choice(WORDS) + str(i): v for i, v in enumerate(nested)}
    return list(nested)
