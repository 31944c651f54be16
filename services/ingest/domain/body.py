"""Reading request bodies within a limit counted on decompressed bytes, as they stream in,
so a gzip bomb is cut off after `max_bytes` of output instead of filling memory."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _decompressor(encoding: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")


async def read_limited(stream: AsyncIterator[bytes], encoding: str, max_bytes: int) -> bytes:
    decompressor = _decompressor(encoding.strip().lower())
    body = bytearray()
    too_large = BodyError(
        413, f"request body exceeds the limit of {max_bytes} bytes (decompressed)"
    )
    try:
        async for chunk in stream:
            if decompressor is None:
                body += chunk
            else:
                data = chunk
                # max_length bounds the output; the rest waits in unconsumed_tail.
                while data:
                    body += decompressor.decompress(data, max_bytes + 1 - len(body))
                    if len(body) > max_bytes:
                        raise too_large
                    data = decompressor.unconsumed_tail
            if len(body) > max_bytes:
                raise too_large
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid {encoding}: {exc}") from None
    if decompressor is not None and not decompressor.eof:
        raise BodyError(400, f"body is not valid {encoding}: truncated")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise BodyError(400, "request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"invalid JSON: {exc}") from None
