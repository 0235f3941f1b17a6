"""swaps: checkpoint swaps with model affinity against plain fair FIFO, on one and on two backends.

The line is A, B, A, B, ... (two checkpoints, from 4 users: users 0 and 2 want A, users 1 and 3 want B, so the
fair order alternates). The webuis are held while the line fills, then released. Counted: swaps seen by the
webui fakes (``FakeWebui.swaps``) and by the queue (``Backend.swaps``), the most times any job was passed over
(``Job.passed_over``, bounded by ``[queue] affinity_max_skips``) and the longest wait from the release to a
job's start. Jobs have 1 to 3 images (0.1 s each) so two backends drift apart as they would in real life. Targets:
affinity never swaps more than FIFO; passed_over never above the bound.
"""

from __future__ import annotations

import statistics
import time

from bench.common import MODELS, Report, rig, timed_command

GEN_SECONDS = 0.1
COUNTS = (1, 3, 2, 1, 2)


async def measure(backends: int, skips: int, jobs: int) -> dict[str, float]:
    async with rig(backends, users=4, gen_seconds=GEN_SECONDS, queue={"affinity_max_skips": skips}) as r:
        for w in r.webuis:
            w.hold()
        for i in range(jobs):
            # 1 to 3 images: jobs of different lengths, so that the backends do not run in lockstep
            options = {"width": 512, "height": 512, "count": COUNTS[i % len(COUNTS)], "model": MODELS[i % 2]}
            await timed_command(r, i, options=options)
        await r.wait_busy(backends)
        released = time.time()
        for w in r.webuis:
            w.release()
        await r.wait_delivered(jobs, timeout=jobs * GEN_SECONDS * 4 + 30)
        waits = [(j.started_at or released) - max(j.created_at, released) for j in r.jobs.values()]
        return {
            "fake_swaps": sum(w.swaps for w in r.webuis),
            "queue_swaps": sum(b.swaps for b in r.bot.queue.backends.values()),
            "passed_over": max(j.passed_over for j in r.jobs.values()),
            "max_wait": max(waits),
            "median_wait": statistics.median(waits),
        }


async def run(quick: bool) -> Report:
    jobs = 16 if quick else 32
    report = Report(
        "swaps",
        f"{jobs} jobs alternating two checkpoints from 4 users, {GEN_SECONDS:g} s/image; "
        "affinity (affinity_max_skips = 3) vs fair FIFO (0)",
    )
    for backends in (1, 2):
        fifo = await measure(backends, 0, jobs)
        aff = await measure(backends, 3, jobs)
        for label, m in (("FIFO", fifo), ("affinity", aff)):
            report.add(
                f"{backends} backend(s), {label}: swaps (webui / queue)",
                f"{m['fake_swaps']:.0f} / {m['queue_swaps']:.0f}",
                "<= FIFO" if label == "affinity" else "",
                m["fake_swaps"] <= fifo["fake_swaps"] if label == "affinity" else None,
            )
            bound = 3 if label == "affinity" else 0
            report.add(
                f"{backends} backend(s), {label}: max passed over",
                f"{m['passed_over']:.0f}",
                f"<= {bound}",
                m["passed_over"] <= bound,
            )
            report.add(
                f"{backends} backend(s), {label}: wait after release",
                f"median {m['median_wait']:.2f} s, max {m['max_wait']:.2f} s",
            )
    return report
