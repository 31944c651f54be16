import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest

from services.ingest.domain.body import BodyError, parse_json, read_limited


async def chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_plain_and_gzip_and_deflate_bodies_are_read() -> None:
    raw = b'{"batch": []}'
    assert await read_limited(chunks(raw), "", 100) == raw
    assert await read_limited(chunks(gzip.compress(raw)), "gzip", 100) == raw
    assert await read_limited(chunks(zlib.compress(raw)), "deflate", 100) == raw


async def test_limit_counts_decompressed_bytes() -> None:
    raw = b"x" * 1000
    with pytest.raises(BodyError, match="exceeds the limit of 999 bytes") as caught:
        await read_limited(chunks(gzip.compress(raw)), "gzip", 999)
    assert caught.value.status == 413
    with pytest.raises(BodyError, match="exceeds the limit"):
        await read_limited(chunks(raw), "identity", 999)


async def test_a_gzip_bomb_is_cut_off_without_filling_memory() -> None:
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)  # 200 MB unpacked, ~200 KB packed
    tracemalloc.start()
    with pytest.raises(BodyError) as caught:
        await read_limited(chunks(bomb, 65536), "gzip", 500 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert caught.value.status == 413
    assert peak < 5_000_000  # a few MB at most, not 200 MB


async def test_broken_or_unknown_encodings_are_refused() -> None:
    with pytest.raises(BodyError, match="not valid gzip") as caught:
        await read_limited(chunks(b"definitely not gzip"), "gzip", 100)
    assert caught.value.status == 400
    with pytest.raises(BodyError, match="truncated"):
        await read_limited(chunks(gzip.compress(b'{"a": 1}')[:-6]), "gzip", 100)
    with pytest.raises(BodyError, match="unsupported Content-Encoding 'br'") as caught:
        await read_limited(chunks(b"{}"), "br", 100)
    assert caught.value.status == 415


def test_json_errors_say_what_is_wrong() -> None:
    with pytest.raises(BodyError, match="invalid JSON"):
        parse_json(b'{"userId": ')
    with pytest.raises(BodyError, match="empty"):
        parse_json(b"  ")
    assert parse_json(b'{"a": 1}') == {"a": 1}
