"""What every HTTP backend client shares: reading an answer body in chunks under a size cap."""

from __future__ import annotations

import aiohttp

CHUNK = 64 * 1024
# A call may wait read_timeout for its first byte; the whole answer must then arrive within this many seconds more,
# or the call is cut off (a server trickling one byte a second never trips sock_read).
TRANSFER_ALLOWANCE = 120.0


class BodyTooLarge(Exception):
    """The answer is (or says it is) larger than the cap; nothing more of it was read."""


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The (decompressed) body, read in chunks; ``BodyTooLarge`` as soon as it passes ``limit`` bytes, or at once
    when it declares more (an encoded body's declared length is not its size: it is counted as it comes)."""
    declared = resp.content_length
    if declared is not None and declared > limit and resp.headers.get("Content-Encoding") is None:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
