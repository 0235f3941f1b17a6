"""throughput: jobs/s with 1, 2, 4 and 8 webui backends at ~1 s per image.

4 x N jobs (2 x N with --quick) from 8 users are queued at once (concurrent /draw), one 512x512 noise PNG
(~770 KB) each; the clock runs from the first /draw to the last result posted. Target: N backends give
>= 0.9 x N times the single-backend throughput.
"""

from __future__ import annotations

import asyncio

from bench.common import Report, rig, timed_command

GEN_SECONDS = 1.0
OPTIONS = {"width": 512, "height": 512, "count": 1}


async def measure(backends: int, per_backend: int) -> tuple[float, int, list[int]]:
    jobs = per_backend * backends
    async with rig(backends, users=8, gen_seconds=GEN_SECONDS, image_style="noise") as r:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(timed_command(r, i, options=OPTIONS) for i in range(jobs)))
        await r.wait_delivered(jobs, timeout=jobs * GEN_SECONDS + 60)
        elapsed = max(r.delivered.values()) - t0
        per_webui = [w.completed_count for w in r.webuis]
    return elapsed, jobs, per_webui


async def run(quick: bool) -> Report:
    per_backend = 2 if quick else 4
    report = Report(
        "throughput",
        f"{per_backend} x N jobs of 1 x 512x512 noise PNG from 8 users, {GEN_SECONDS:g} s/image, "
        "first /draw to last result posted",
    )
    base: float | None = None
    for n in (1, 2, 4, 8):
        elapsed, jobs, per_webui = await measure(n, per_backend)
        rate = jobs / elapsed
        if base is None:
            base = rate
            report.add("N=1", f"{rate:.3f} jobs/s ({jobs} jobs in {elapsed:.2f} s; ideal {1 / GEN_SECONDS:.3f})")
            continue
        ratio = rate / base
        report.add(f"N={n}", f"{ratio:.2f} x single = {ratio / n:.2f} N", f">= {0.9 * n:.1f} x", ratio >= 0.9 * n)
        report.add(f"N={n} detail", f"{rate:.3f} jobs/s, {jobs} jobs in {elapsed:.2f} s, per backend {per_webui}")
    return report
