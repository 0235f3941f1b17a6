"""overhead: how much of the wall time the bot adds around the webui's own work, on one backend.

20 jobs (10 with --quick) from 4 users are queued at once; wall time runs from the first /draw to the last
result posted; the webui's busy time is the sum of the generation spans measured inside the fake (the time
each generation held the webui's lock, rendering and encoding included). Target: overhead <= 2 % of the
total. The idle gap between two generations is what the bot does between the webui's answer and sending the
next job (read and decode the answer, store the images, tell the next user "drawing now").

Informative runs: the same with the Discord fake answering every REST call after RTT (the real API is not
on loopback), and with big answers (4 x 1024x1024 noise PNGs, 1 s per job).
"""

from __future__ import annotations

import asyncio
import statistics

from bench.common import BIG, Report, ms, percentile, rig, timed_command

RTT = 0.08  # a typical round trip to discord.com


async def measure(
    jobs: int, gen_seconds: float, options: dict[str, int], rest_delay: float = 0.0
) -> tuple[float, float, list[float]]:
    async with rig(1, users=4, gen_seconds=gen_seconds, image_style="noise", rest_delay=rest_delay) as r:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(timed_command(r, i, options=options) for i in range(jobs)))
        await r.wait_delivered(jobs, timeout=jobs * 4 * gen_seconds + 60)
        wall = max(r.delivered.values()) - t0
        spans = sorted((a, b) for _, a, b in r.webuis[0].spans)
    busy = sum(b - a for a, b in spans)
    gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    return wall, busy, gaps


async def run(quick: bool) -> Report:
    jobs = 10 if quick else 20
    report = Report("overhead", f"{jobs} jobs from 4 users on one backend, ~1 s per job")
    wall, busy, gaps = await measure(jobs, 1.0, {"width": 512, "height": 512, "count": 1})
    overhead = (wall - busy) / wall
    report.add("1 x 512x512 per job: overhead", f"{overhead * 100:.2f} %", "<= 2 %", overhead <= 0.02)
    report.add(
        "1 x 512x512 per job: gap between jobs",
        f"median {ms(statistics.median(gaps))}, max {ms(max(gaps))} (wall {wall:.2f} s, webui busy {busy:.2f} s)",
    )
    wall, busy, gaps = await measure(jobs, 1.0, {"width": 512, "height": 512, "count": 1}, rest_delay=RTT)
    overhead = (wall - busy) / wall
    report.add(
        f"same, Discord answering in {RTT * 1000:.0f} ms: overhead",
        f"{overhead * 100:.2f} %",
        "<= 2 %",
        overhead <= 0.02,
    )
    report.add(
        f"same, Discord answering in {RTT * 1000:.0f} ms: gap",
        f"median {ms(statistics.median(gaps))} (wall {wall:.2f} s, webui busy {busy:.2f} s)",
    )
    big_jobs = 6 if quick else 10
    wall, busy, gaps = await measure(big_jobs, 0.25, BIG)
    overhead = (wall - busy) / wall
    report.add(
        "4 x 1024x1024 per job: overhead",
        f"{overhead * 100:.2f} % (wall {wall:.2f} s, webui busy {busy:.2f} s, {big_jobs} jobs)",
    )
    report.add(
        "4 x 1024x1024 per job: gap between jobs",
        f"median {ms(statistics.median(gaps))}, p99 {ms(percentile(gaps, 99))}",
    )
    return report
