"""responsiveness: p99 time to the first interaction response while 2 and 4 backends stream large images.

Every backend keeps answering 4 x 1024x1024 noise PNGs (~16 MB of base64 per answer) and there is always a
line (users keep queueing big jobs); meanwhile users alternate /draw and /queue (which walks the line and
estimates start times). Target: p99 < 250 ms. The webui fakes run in their own process; the one-process
(harness-style) figure is shown beside it.
"""

from __future__ import annotations

import asyncio

from bench.common import BIG, LoopLag, Report, ms, rig, spread, summary, timed_command, uploaded_bytes

GEN_SECONDS = 0.25  # per image: 1 s per 4-image job
USERS = 40
RATE = 5.0  # interactions per second


async def measure(report: Report, backends: int, count: int, *, webui_process: bool) -> None:
    label = f"{backends} backends{'' if webui_process else ', one process'}"
    async with rig(
        backends, users=USERS, gen_seconds=GEN_SECONDS, image_style="noise", webui_process=webui_process
    ) as r:
        loop = asyncio.get_running_loop()
        for i in range(backends * 3):  # a line behind every backend
            await timed_command(r, i, options=BIG)
        await r.wait_busy(backends)
        t0 = loop.time()

        async def one(i: int) -> tuple[str, float | None]:
            if i % 2:
                return "queue", await timed_command(r, i, "queue")
            return "draw", await timed_command(r, i, options=BIG)

        with LoopLag() as lag:
            results = await spread(count, RATE, one, seed=backends, timeout=count / RATE + 60)
        t1 = loop.time()
        uploaded = uploaded_bytes(r, t0)
        generated = sum(1 for t in r.delivered.values() if t >= t0)
    answers = [t for _, t in results if t is not None]
    missed = len(results) - len(answers)
    s = summary(answers)
    by_cmd = {c: summary([t for name, t in results if name == c and t is not None]) for c in ("draw", "queue")}
    # one process: an upper bound that includes the webui fakes' own work (16 MB answers written on this loop)
    ok = s["p99"] < 0.250 and missed == 0
    report.add(f"{label}: p99", ms(s["p99"]), "< 250 ms", ok, judged=webui_process)
    report.add(
        f"{label}: median / max",
        f"{ms(s['median'])} / {ms(s['max'])} (draw p99 {ms(by_cmd['draw']['p99'])}, "
        f"queue p99 {ms(by_cmd['queue']['p99'])}); unanswered {missed}",
    )
    report.add(f"{label}: load", f"{generated} jobs posted, {uploaded / 2**20:.0f} MiB uploaded in {t1 - t0:.1f} s")
    report.add(f"{label}: loop lag", lag.describe())


async def run(quick: bool) -> Report:
    count = 50 if quick else 150
    report = Report(
        "responsiveness",
        f"{count} interactions (/draw and /queue alternating) at ~{RATE:g}/s from {USERS} users while every "
        f"backend streams 4 x 1024x1024 noise PNGs per job ({GEN_SECONDS:g} s/image)",
    )
    for backends in (2, 4):
        await measure(report, backends, count, webui_process=True)
    if not quick:
        for backends in (2, 4):
            await measure(report, backends, count, webui_process=False)
    return report
