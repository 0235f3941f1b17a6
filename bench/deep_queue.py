"""deep_queue: the queue core with a deep line: submit + position with 3,000 jobs waiting, and one fair-order pass.

Core level: a real JobQueue and Store (SQLite in a temporary directory) and one webui fake whose generation is
held, so the line only grows; the publisher records nothing (Discord is not in the loop). Target: a submit
(store the row, put it in line, compute its position) p99 < 250 ms with 3,000 jobs waiting. The fair-order pass
is timed for the old quadratic algorithm (the reference in tests/easel/queue/test_scheduling.py) and the new one.

Run: ``.venv/bin/python -m bench.deep_queue [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Report, ms, rig, summary, timed_command
from easel.backends.webui import WebuiClient
from easel.catalog import Catalog
from easel.config import parse_config
from easel.jobs import Job, StoredImage, new_id
from easel.queue import Backend, JobQueue
from easel.queue.scheduling import fair_order
from easel.request import DrawRequest
from easel.store import Store
from tests.easel.queue.test_scheduling import reference_fair_order
from tests.fakes.webui_fake import FakeWebui

USERS = 1000
PER_USER = 3
GUILDS = 20


class Quiet:
    async def queued(self, job: Job, position: int, eta: float | None) -> None:
        pass

    async def started(self, job: Job, backend: str) -> None:
        pass

    async def progress(self, job: Job, fraction: float, eta: float | None, preview: bytes | None, **kw: object) -> None:
        pass

    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        return 1

    async def failed(self, job: Job, message: str) -> None:
        pass

    async def cancelled(self, job: Job) -> None:
        pass


def _job(user: int, guild: int) -> Job:
    return Job(id=new_id(), request=DrawRequest(prompt="x", steps=4), user_id=user, channel_id=1, guild_id=guild)


def time_fair_order(report: Report) -> None:
    jobs = [_job(1 + i % USERS, 1 + i % GUILDS) for i in range(USERS * PER_USER)]
    for seq, j in enumerate(jobs, start=1):
        j.seq = seq
    t0 = time.perf_counter()
    new = fair_order(jobs, {}, {}, 1)
    t1 = time.perf_counter()
    old = reference_fair_order(jobs, {}, {}, 1)
    t2 = time.perf_counter()
    assert [j.id for j in new] == [j.id for j in old]
    label = f"fair order, {USERS} users x {PER_USER} jobs"
    report.add(f"{label}: new", ms(t1 - t0))
    report.add(f"{label}: old (quadratic)", ms(t2 - t1))


async def time_submits(report: Report, quick: bool) -> None:
    depth = USERS * PER_USER
    samples = 100 if quick else 300
    webui = FakeWebui(hold=True)
    await webui.start()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(
            {
                "backends": [{"name": "gpu0", "url": webui.url}],
                "storage": {"path": str(Path(tmp) / "easel.db")},
                "queue": {"status_interval": 5.0},
                "limits": {
                    "max_queued_per_user": 1000,
                    "max_queue_length": depth + samples + 10,
                    "max_queued_per_guild": depth + samples + 10,
                },
            },
            env={},
        )
        store = await Store.open(cfg.storage.path)
        async with aiohttp.ClientSession() as session:
            backend = Backend(cfg.backends[0], WebuiClient(webui.url, session, name="gpu0"))
            queue = JobQueue(cfg, store, Catalog(), [backend], Quiet())
            await queue.start()
            await queue.submit(_job(0, 1))  # held on the webui: nothing leaves the line
            await webui.wait_generation_started(1, timeout=10)
            t0 = time.perf_counter()
            for i in range(depth):
                await queue.submit(_job(1 + i % USERS, 1 + i % GUILDS))
            fill = time.perf_counter() - t0
            latencies: list[float] = []
            for i in range(samples):
                job = _job(USERS + 1 + i, 1 + i % GUILDS)
                s = time.perf_counter()
                await queue.submit(job)
                assert queue.position(job.id) is not None
                latencies.append(time.perf_counter() - s)
            stats = summary(latencies)
            report.add(f"submit + position, {depth} waiting: median", ms(stats["median"]))
            report.add(f"submit + position, {depth} waiting: p99", ms(stats["p99"]), "< 250 ms", stats["p99"] < 0.25)
            report.notes.append(
                f"filling the line with {depth} jobs took {fill:.1f} s ({fill / depth * 1000:.2f} ms each)"
            )
            webui.release()
            await queue.stop()
        await store.close()
    await webui.stop()


async def time_first_answers(report: Report, quick: bool) -> None:
    """The real bot (discord.py, the Discord fake): /draw's first answer with 3,000 jobs waiting."""
    depth = USERS * PER_USER
    samples = 40 if quick else 150
    cap = depth + samples + 10
    async with rig(1, users=50, limits={"max_queue_length": cap, "max_queued_per_guild": cap}) as r:
        r.webuis[0].hold()  # nothing leaves the line
        queue = r.bot.queue
        for i in range(depth):  # straight into the queue: Discord is not needed to fill it
            await queue.submit(_job(1 + i % USERS, 1 + i % GUILDS))
        latencies = [await timed_command(r, i) for i in range(samples)]
        answered = [a for a in latencies if a is not None]
        stats = summary(answered)
        label = f"/draw first answer, {depth} waiting"
        report.add(f"{label}: median", ms(stats["median"]))
        report.add(f"{label}: p99", ms(stats["p99"]), "< 250 ms", stats["p99"] < 0.25 and len(answered) == samples)
        report.add(f"{label}: unanswered", str(samples - len(answered)), "0", len(answered) == samples)
        r.webuis[0].release()


async def run(quick: bool) -> Report:
    report = Report("deep_queue", f"{USERS} users x {PER_USER} jobs in {GUILDS} guilds waiting, one held webui")
    time_fair_order(report)
    await time_submits(report, quick)
    await time_first_answers(report, quick)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(asyncio.run(run(args.quick)).render())
