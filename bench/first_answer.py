"""first_answer: INTERACTION_CREATE dispatched -> the bot's callback for /draw, while big results stream.

Three webui fakes draw 4 x 1024x1024 noise PNGs per job (~3 MB each, ~16 MB of base64 per answer), so the bot
is always receiving, decoding, storing and uploading (in two messages: 10 MiB limit) somebody's images while
users keep typing /draw at random (Poisson) times. Targets: median < 100 ms, never > 3 s.

Run twice: with the webui fakes in a process of their own (as a real webui on its GPU box: their 16 MB
base64 + JSON encoding does not take the bot's GIL), and harness-style with everything in one process.
"""

from __future__ import annotations

import asyncio

from bench.common import (
    BIG,
    LoopLag,
    Report,
    StallSampler,
    ms,
    rig,
    spread,
    summary,
    timed_command,
    uploaded_bytes,
)

BACKENDS = 3
GEN_SECONDS = 0.25  # per image: 1 s per 4-image job
USERS = 40
RATE = 4.0  # /draw per second


async def measure(report: Report, label: str, *, count: int, webui_process: bool, backends: int = BACKENDS) -> None:
    async with rig(
        backends, users=USERS, gen_seconds=GEN_SECONDS, image_style="noise", webui_process=webui_process
    ) as r:
        loop = asyncio.get_running_loop()
        for i in range(backends * 2):  # get every backend busy first
            await timed_command(r, i, options=BIG)
        await r.wait_busy(backends)
        t0 = loop.time()
        generated0 = r.bot.queue.generated_count
        with LoopLag() as lag, StallSampler() as stalls:
            latencies = await spread(count, RATE, lambda i: timed_command(r, i, options=BIG), timeout=count / RATE + 60)
        t1 = loop.time()
        generated = r.bot.queue.generated_count - generated0
        delivered = sum(1 for t in r.delivered.values() if t >= t0)
        uploaded = uploaded_bytes(r, t0)
    answers = [a for a in latencies if a is not None]
    missed = len(latencies) - len(answers)
    s = summary(answers)
    judged = webui_process  # one process: an upper bound that includes the webui fakes' own work
    report.add(f"{label}: median", ms(s["median"]), "< 100 ms", s["median"] < 0.100, judged=judged)
    report.add(f"{label}: p99", ms(s["p99"]))
    report.add(f"{label}: max", ms(s["max"]), "<= 3 s", s["max"] <= 3.0 and missed == 0, judged=judged)
    report.add(f"{label}: unanswered", str(missed), "0", missed == 0, judged=judged)
    report.add(
        f"{label}: load",
        f"{generated} jobs generated, {delivered} posted, {uploaded / 2**20:.0f} MiB uploaded in {t1 - t0:.1f} s",
    )
    report.add(f"{label}: loop lag", lag.describe())
    for line in stalls.top(3):
        report.notes.append(f"{label}: {line}")


async def run(quick: bool) -> Report:
    count = 40 if quick else 200
    report = Report(
        "first_answer",
        f"{count} x /draw (4 x 1024x1024 noise PNGs each) at ~{RATE:g}/s from {USERS} users, "
        f"{BACKENDS} backends at {GEN_SECONDS:g} s/image",
    )
    await measure(report, "webuis apart", count=count, webui_process=True)
    await measure(report, "one process", count=count, webui_process=False)
    return report
