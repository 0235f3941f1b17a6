"""Shared pieces of the benches: the rig (real EaselBot + loopback fakes), statistics, tables.

The rig is tests/cogs/harness.py with knobs: several webui fakes, many users, big noisy images. Everything runs
in one event loop and one process, as in the e2e tests, so ``loop.time()`` (``time.monotonic()``) stamps taken
by the two fakes are comparable. Their own work (the Discord fake parsing multipart uploads and validating
bodies, the webui fake sending its answers) shares that loop with the bot: figures are upper bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import random
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from bot import EaselBot
from easel.jobs import Job
from tests.cogs.harness import CHANNEL, E2E, GUILD, Easel, make_discord
from tests.fakes.discord_fake import FakeDiscord, FakeInteraction, RecordedRequest
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import make_config

MODELS = ("v1-5-pruned-emaonly", "sdxl_base")
FIRST_USER = 500000000000000001


# ---- statistics -------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    data = sorted(values)
    if not data:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(data)))
    return data[min(rank, len(data)) - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values) if values else math.nan,
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def rss_mb() -> float:
    """Resident set size of this process (VmRSS), in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


# ---- reporting --------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informative, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


@dataclass
class Report:
    name: str
    setup: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, value: str, target: str = "", ok: bool | None = None, *, judged: bool = True) -> None:
        """``judged=False``: the target is shown in parentheses for comparison, without PASS/MISS."""
        if not judged and target:
            target, ok = f"({target})", None
        self.rows.append(Row(figure, value, target, ok))

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.rows)

    def render(self) -> str:
        head = ("figure", "measured", "target", "")
        table = [head] + [(r.figure, r.value, r.target, r.verdict) for r in self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = [f"== {self.name}: {self.setup}"]
        for i, row in enumerate(table):
            lines.append("  " + "  ".join(cell.ljust(widths[k]) for k, cell in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "setup": self.setup,
            "rows": [r.__dict__ | {"verdict": r.verdict} for r in self.rows],
            "notes": self.notes,
        }


# ---- the rig ----------------------------------------------------------------------------------------------


@dataclass
class Rig:
    """The real bot against one Discord fake and ``n`` webui fakes, with ``users`` members in the guild."""

    discord: FakeDiscord
    webuis: list[FakeWebui]
    easel: Easel
    users: list[int]
    jobs: dict[str, Job] = field(default_factory=dict)  # every job the queue accepted, by id
    submitted: dict[str, float] = field(default_factory=dict)  # job id -> loop time the queue accepted it
    delivered: dict[str, float] = field(default_factory=dict)  # job id -> loop time the publisher finished
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    remote: RemoteWebuis | None = None  # the webui fakes, when they run in their own process

    @property
    def bot(self) -> EaselBot:
        assert self.easel.bot is not None
        return self.easel.bot

    async def draw(self, user: int, **options: Any) -> FakeInteraction:
        """A user runs /draw; returns once the interaction is dispatched (not answered)."""
        options.setdefault("prompt", "a lighthouse on a cliff at dusk, oil painting")
        return await self.discord.invoke("draw", options, user_id=user, guild_id=GUILD, channel_id=CHANNEL)

    async def draw_answered(self, user: int, timeout: float = 10, **options: Any) -> FakeInteraction:  # noqa: ASYNC109
        inter = await self.draw(user, **options)
        await inter.wait_response(timeout)
        return inter

    async def wait_delivered(self, count: int, timeout: float = 300) -> None:  # noqa: ASYNC109
        """Until ``count`` jobs in all have been delivered (JobQueue.wait_idle can return a moment early: a job
        between the webui's answer and its delivery task is in none of its lists)."""
        async with asyncio.timeout(timeout):
            while len(self.delivered) < count:
                self.changed.clear()
                await self.changed.wait()

    def busy_backends(self) -> int:
        """How many of the bot's backends are running a job now."""
        return sum(1 for b in self.bot.queue.backends.values() if b.current is not None)

    async def wait_busy(self, n: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while self.busy_backends() < n:
                await self.bot.queue.wait_changed()

    def result_posts(self) -> dict[str, list[RecordedRequest]]:
        """Job id -> the channel posts carrying its images (request fully received), in order."""
        out: dict[str, list[RecordedRequest]] = {}
        for rec in self.discord.requests:
            if rec.method != "POST" or not rec.path.startswith("/channels/") or not rec.path.endswith("/messages"):
                continue
            if not rec.files or not isinstance(rec.json, dict) or rec.status != 200:
                continue
            content = rec.json.get("content") or ""
            if "`" not in content:
                continue
            job_id = content.split("`")[1]
            out.setdefault(job_id, []).append(rec)
        return out

    def answers(self) -> dict[str, float]:
        """Job id -> loop time the webui handed its generation answer to the HTTP server."""
        out: dict[str, float] = {}
        for w in self.webuis:
            for path, task, t in w.answer_times:
                if task and task.startswith("easel-") and path.endswith(("txt2img", "img2img")):
                    out[task.split("-")[1]] = t
        return out

    def trim_fakes(self) -> None:
        """Drop what the fakes recorded about finished work, so their memory does not count against the bot."""
        d = self.discord
        d.requests.clear()
        d.interactions.clear()
        d._interactions_by_id.clear()
        d._interactions_by_token.clear()
        d.messages.clear()
        d._messages_by_id.clear()
        d._files.clear()
        d._nonces.clear()
        for w in self.webuis:
            for recorded in (w.requests, w.generations, w.responses, w.results, w.spans, w.answer_times):
                recorded.clear()
        self.jobs.clear()
        self.submitted.clear()
        self.delivered.clear()


class RemoteWebuis:
    """``n`` webui fakes in a child process (bench/webui_server.py)."""

    def __init__(self, proc: asyncio.subprocess.Process, urls: list[str]) -> None:
        self.proc = proc
        self.urls = urls

    @classmethod
    async def start(cls, n: int, gen_seconds: float, image_style: str) -> RemoteWebuis:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.webui_server",
            str(n),
            str(gen_seconds),
            image_style,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        return cls(proc, json.loads(line))

    async def stats(self) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(10):
            return json.loads(await self.proc.stdout.readline())

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def rig(
    backends: int = 1,
    *,
    users: int = 8,
    gen_seconds: float = 0.0,
    image_style: str = "gradient",
    status_interval: float = 5.0,
    interaction_timeout: float | None = 3.0,
    webui_process: bool = False,
    rest_delay: float = 0.0,
    **sections: dict[str, Any],
) -> AsyncIterator[Rig]:
    """Start the fakes and the bot; ``sections`` are config sections merged over the bench defaults.

    ``webui_process``: the webui fakes run in a child process (``Rig.webuis`` is then empty).
    ``rest_delay``: the Discord fake holds every REST answer back this long (the real API's round trip)."""
    old_base = discord.http.Route.BASE
    remote: RemoteWebuis | None = None
    if webui_process:
        remote = await RemoteWebuis.start(backends, gen_seconds, image_style)
        webuis: list[FakeWebui] = []
        urls = remote.urls
    else:
        webuis = [FakeWebui(gen_seconds=gen_seconds, image_style=image_style, models=MODELS) for _ in range(backends)]
        urls = []
    fake = make_discord()
    fake.interaction_timeout = interaction_timeout
    fake.rest_delay = rest_delay
    user_ids = [FIRST_USER + i for i in range(users)]
    for i, uid in enumerate(user_ids):
        fake.add_member(GUILD, uid, name=f"bench{i}")
    for w in webuis:
        await w.start()
        urls.append(w.url)
    await fake.start()
    tmp = tempfile.TemporaryDirectory(prefix="easel-bench-")
    merged: dict[str, dict[str, Any]] = {
        "queue": {"status_interval": status_interval},
        "limits": {"max_queued_per_user": 1000, "cooldown_seconds": 0.0},
        "webui": {"read_timeout": 120.0},
    }
    for key, value in sections.items():
        merged.setdefault(key, {}).update(value)
    config = make_config(urls, Path(tmp.name) / "easel.db", preset=E2E, **merged)
    easel = Easel(fake, webuis[0] if webuis else FakeWebui(), config)
    r = Rig(fake, webuis, easel, user_ids, remote=remote)
    try:
        await easel.start_bot()
        queue = r.bot.queue
        original_submit = queue.submit

        async def submit(job: Job, **limits: Any) -> int:
            position = await original_submit(job, **limits)
            r.jobs[job.id] = job
            r.submitted[job.id] = asyncio.get_running_loop().time()
            return position

        queue.submit = submit  # type: ignore[method-assign]
        publisher = r.bot.publisher
        original_deliver = publisher.deliver

        async def deliver(job: Job, images: Any, *, recovered: bool = False) -> int | None:
            message_id = await original_deliver(job, images, recovered=recovered)
            r.delivered[job.id] = asyncio.get_running_loop().time()
            r.changed.set()
            return message_id

        publisher.deliver = deliver  # type: ignore[method-assign]
        yield r
    finally:
        await easel.stop_bot()
        await fake.stop()
        for w in webuis:
            await w.stop()
        if remote is not None:
            await remote.stop()
        discord.http.Route.BASE = old_base
        tmp.cleanup()
        gc.collect()


async def spread(
    count: int,
    rate: float,
    make: Any,
    *,
    seed: int = 1,
    timeout: float = 30,  # noqa: ASYNC109
) -> list[Any]:
    """Start ``make(i)`` ``count`` times with Poisson arrivals at ``rate``/s; gather the results."""
    rnd = random.Random(seed)
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(make(i)))
        await asyncio.sleep(rnd.expovariate(rate))
    async with asyncio.timeout(timeout):
        return await asyncio.gather(*tasks)


class LoopLag:
    """Samples how late the event loop wakes a 10 ms sleeper: the stalls every other coroutine also sees."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(loop.time() - t - self.interval)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def describe(self) -> str:
        if not self.lags:
            return "n/a"
        return (
            f"median {ms(statistics.median(self.lags))}, p99 {ms(percentile(self.lags, 99))}, max {ms(max(self.lags))}"
        )


def now() -> float:
    return time.perf_counter()


async def timed_command(r: Rig, i: int, command: str = "draw", options: dict[str, Any] | None = None) -> float | None:
    """User ``i`` (round robin) runs ``command``; the dispatch-to-callback latency, or None if never answered."""
    user = r.users[i % len(r.users)]
    opts = dict(options or {})
    if command == "draw":
        opts.setdefault("prompt", f"bench drawing {i}, a lighthouse on a cliff at dusk")
    inter = await r.discord.invoke(command, opts or None, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    try:
        await inter.wait_response(6)
    except TimeoutError:
        return None
    return inter.response_latency


def uploaded_bytes(r: Rig, since: float) -> int:
    """Bytes of files the bot uploaded to the Discord fake since loop time ``since``."""
    return sum(f.size for rec in r.discord.requests if rec.time >= since for f in rec.files)


BIG = {"width": 1024, "height": 1024, "count": 4}


class StallSampler:
    """A watchdog thread that snapshots the event-loop thread's stack while the loop is stalled.

    A loop callback stamps a heartbeat every ``interval``; when the stamp is older than ``threshold``, the
    watchdog records where the loop thread is (``sys._current_frames``). A poor man's py-spy: ``top()`` says
    which code lines the stalls were spent in (one sample per ``interval`` of stall).
    """

    def __init__(self, threshold: float = 0.05, interval: float = 0.005) -> None:
        self.threshold = threshold
        self.interval = interval
        self.samples: list[tuple[str, ...]] = []
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._handle: asyncio.TimerHandle | None = None

    def _tick(self) -> None:
        self._beat = time.monotonic()
        self._handle = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if time.monotonic() - self._beat > self.threshold:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)
                    self.samples.append(tuple(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack[-12:]))

    def __enter__(self) -> StallSampler:
        self._tick()
        self._thread = threading.Thread(target=self._watch, name="stall-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._handle is not None:
            self._handle.cancel()

    def top(self, n: int = 8, depth: int = 6) -> list[str]:
        """The most frequent innermost ``depth`` frames during stalls, with their share of the samples."""
        counts: dict[tuple[str, ...], int] = {}
        for s in self.samples:
            key = s[-depth:]
            counts[key] = counts.get(key, 0) + 1
        out = []
        for key, c in sorted(counts.items(), key=lambda kv: -kv[1])[:n]:
            out.append(f"{c * self.interval * 1000:.0f} ms of stall in: " + " > ".join(key))
        return out
