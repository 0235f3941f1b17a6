"""horde: overflow to the AI Horde. One local webui at 1 s per image, then the same webui plus a Horde fake whose
two workers draw at 1 s per image, ``[horde] mode = "overflow"``, ``overflow_after = 1``,
``max_in_flight = 3``.

40 jobs (20 with --quick) from 8 users are queued at once; the clock runs from the first /draw to the last result
posted. Targets (issue 13 §6): local + Horde finishes >= 2.5x faster than local alone, and no job is posted twice.
Run alone: ``.venv/bin/python -m bench.horde [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord

from bench.common import FIRST_USER, Report
from tests.cogs.harness import CHANNEL, E2E, GUILD, Easel, make_discord
from tests.fakes.horde_fake import FakeHorde
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import make_config

GEN_SECONDS = 1.0
USERS = 8


@contextlib.asynccontextmanager
async def bot(with_horde: bool) -> AsyncIterator[tuple[Easel, FakeWebui, FakeHorde | None]]:
    old_base = discord.http.Route.BASE
    webui = FakeWebui(gen_seconds=GEN_SECONDS)
    horde = FakeHorde(workers=[("volunteer-1", GEN_SECONDS), ("volunteer-2", GEN_SECONDS)]) if with_horde else None
    fake = make_discord()
    for i in range(USERS):
        fake.add_member(GUILD, FIRST_USER + i, name=f"bench{i}")
    await webui.start()
    if horde is not None:
        await horde.start()
    await fake.start()
    backends: list[Any] = [{"name": "gpu0", "url": webui.url}]
    if horde is not None:
        backends.append(
            {"kind": "horde", "url": horde.url, "api_key": "test-key", "max_in_flight": 3, "poll_interval": 0.1}
        )
    tmp = tempfile.TemporaryDirectory(prefix="easel-bench-")
    config = make_config(
        backends,
        Path(tmp.name) / "easel.db",
        preset=E2E,
        queue={"status_interval": 5.0},
        limits={"max_queued_per_user": 1000, "cooldown_seconds": 0.0},
        webui={"read_timeout": 120.0},
        horde={"mode": "overflow", "overflow_after": 1.0},
    )
    easel = Easel(fake, webui, config)
    try:
        await easel.start_bot()
        yield easel, webui, horde
    finally:
        await easel.stop_bot()
        await fake.stop()
        if horde is not None:
            await horde.stop()
        await webui.stop()
        discord.http.Route.BASE = old_base
        tmp.cleanup()


def posts_per_job(easel: Easel) -> Counter[str]:
    """Job id -> how many channel posts carried its images."""
    out: Counter[str] = Counter()
    for rec in easel.discord.requests:
        if rec.method == "POST" and rec.path == f"/channels/{CHANNEL}/messages" and rec.files and rec.status == 200:
            content = (rec.json or {}).get("content") or "" if isinstance(rec.json, dict) else ""
            if "`" in content:
                out[content.split("`")[1]] += 1
    return out


async def measure(jobs: int, with_horde: bool) -> tuple[float, Counter[str], int, int]:
    async with bot(with_horde) as (easel, webui, horde):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        inters = await asyncio.gather(
            *(
                easel.discord.invoke(
                    "draw",
                    {"prompt": f"a lighthouse at dusk #{i}", "width": 512, "height": 512},
                    user_id=FIRST_USER + i % USERS,
                    guild_id=GUILD,
                    channel_id=CHANNEL,
                )
                for i in range(jobs)
            )
        )
        for inter in inters:
            await inter.wait_response(10)
        assert easel.bot is not None
        async with asyncio.timeout(jobs * GEN_SECONDS + 120):
            while True:
                posts = posts_per_job(easel)
                if len(posts) >= jobs and not easel.bot.queue.running_jobs():
                    break
                await easel.bot.queue.wait_changed()
        elapsed = loop.time() - t0
        await easel.bot.queue.wait_idle()
        return elapsed, posts_per_job(easel), len(webui.generations), len(horde.submits) if horde else 0


async def run(quick: bool) -> Report:
    jobs = 20 if quick else 40
    report = Report(
        "horde",
        f"{jobs} jobs of 1 x 512x512 from {USERS} users; a local webui at {GEN_SECONDS:g} s/image, then the same "
        f"plus a Horde fake with 2 workers at {GEN_SECONDS:g} s/image (overflow after 1 s, 3 requests in flight)",
    )
    local, local_posts, _, _ = await measure(jobs, with_horde=False)
    both, posts, on_webui, on_horde = await measure(jobs, with_horde=True)
    speedup = local / both
    report.add("local alone", f"{local:.2f} s ({jobs / local:.2f} jobs/s)", judged=False)
    report.add("local + Horde", f"{both:.2f} s ({on_webui} local, {on_horde} on the Horde)", judged=False)
    report.add("speed-up", f"{speedup:.2f} x", ">= 2.5 x", speedup >= 2.5)
    twice = sum(1 for n in (*posts.values(), *local_posts.values()) if n > 1)
    report.add("posted twice", f"{twice} job(s)", "0", twice == 0)
    report.add("all posted", f"{len(posts)} of {jobs}", f"{jobs}", len(posts) == jobs)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.horde")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(asyncio.run(run(args.quick)).render())
