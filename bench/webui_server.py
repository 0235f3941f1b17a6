"""Webui fakes in a process of their own, so that their work (rendering, base64 + JSON of 16 MB answers) does
not compete with the bot for its event loop and the GIL, as a real webui on another machine would not.

``python -m bench.webui_server N GEN_SECONDS IMAGE_STYLE``: prints one JSON line with the URLs, then answers
each line on stdin ("stats") with a JSON line of counters; stops at EOF.
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.fakes.webui_fake import FakeWebui

MODELS = ("v1-5-pruned-emaonly", "sdxl_base")


async def main(n: int, gen_seconds: float, image_style: str) -> None:
    fakes = [FakeWebui(gen_seconds=gen_seconds, image_style=image_style, models=MODELS) for _ in range(n)]
    for f in fakes:
        await f.start()
    print(json.dumps([f.url for f in fakes]), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if line.strip() == b"stats":
                stats = [
                    {
                        "completed": f.completed_count,
                        "started": f.started_count,
                        "swaps": f.swaps,
                        "busy": sum(b - a for _, a, b in f.spans),
                    }
                    for f in fakes
                ]
                print(json.dumps(stats), flush=True)
    finally:
        for f in fakes:
            await f.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]))
