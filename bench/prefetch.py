"""prefetch: how much of the webui's busy time Easel's own gap between two jobs costs, prefetch off and on.

One exclusive backend (the webui fake, which encodes each answer after releasing its generation lock, as the
webui does); 20 jobs (10 with --quick) of 1 x 512x512 from 4 users are queued at once. The webui's busy time is
the sum of the generation spans measured inside the fake (the time each generation held the lock); the
overhead is (makespan - busy) / busy, the makespan running from the first generation's start to the last one's
end (what the GPU could have done in between). With prefetch off, Easel sends the next job once the last answer
is read; on, the next request already waits at the webui's lock. Targets (issue 13): <= 2 % at 0.25 s per
image, <= 1 % at 1 s.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import replace

from bench.common import Report, ms, rig, timed_command


async def measure(jobs: int, gen_seconds: float, prefetch: bool) -> tuple[float, float, list[float]]:
    async with rig(1, users=4, gen_seconds=gen_seconds, image_style="noise", queue={"prefetch": prefetch}) as r:
        for backend in r.bot.queue.backends.values():  # Easel has this webui to itself
            backend.cfg = replace(backend.cfg, exclusive=True)
            backend.client.exclusive = True  # type: ignore[attr-defined]
        await asyncio.gather(
            *(timed_command(r, i, options={"width": 512, "height": 512, "count": 1}) for i in range(jobs))
        )
        await r.wait_delivered(jobs, timeout=jobs * 4 * gen_seconds + 60)
        spans = sorted((a, b) for _, a, b in r.webuis[0].spans)
    busy = sum(b - a for a, b in spans)
    makespan = spans[-1][1] - spans[0][0]
    gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    return makespan, busy, gaps


async def run(quick: bool) -> Report:
    jobs = 10 if quick else 20
    report = Report("prefetch", f"{jobs} jobs of 1 x 512x512 from 4 users on one exclusive backend")
    for gen_seconds, target in ((0.25, 0.02), (1.0, 0.01)):
        figures = {}
        for prefetch in (False, True):
            makespan, busy, gaps = await measure(jobs, gen_seconds, prefetch)
            figures[prefetch] = (makespan - busy) / busy
            report.add(
                f"{gen_seconds:g} s per image, prefetch {'on' if prefetch else 'off'}: gap between jobs",
                f"median {ms(statistics.median(gaps))}, max {ms(max(gaps))} "
                f"(makespan {makespan:.2f} s, webui busy {busy:.2f} s)",
            )
        before, after = figures[False], figures[True]
        report.add(
            f"{gen_seconds:g} s per image: overhead, prefetch off -> on",
            f"{before * 100:.2f} % -> {after * 100:.2f} %",
            f"<= {target * 100:g} %",
            after <= target,
        )
    return report
