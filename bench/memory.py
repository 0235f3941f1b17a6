"""memory: resident set size over 2,000 jobs (1,000 with --quick), sampled every 100 jobs.

gen_seconds 0 and small (gradient) images, from 20 users, 2 backends; each wave of 100 /draw is sent in
bursts of 20. After each wave the fakes' own recordings (requests, messages, results) are dropped and the
garbage collector runs, so what remains is the bot's. VmRSS from /proc/self/status. Target: flat within
20 MB after the first 100 jobs (warm-up).
"""

from __future__ import annotations

import asyncio
import gc

from bench.common import Report, rig, rss_mb, timed_command

WAVE = 100
BURST = 20
OPTIONS = {"width": 512, "height": 512, "count": 1}


async def run(quick: bool) -> Report:
    total = 1000 if quick else 2000
    report = Report("memory", f"{total} jobs (gen 0 s, 512x512 gradient PNG) from 20 users, 2 backends")
    samples: list[float] = []
    async with rig(2, users=20, gen_seconds=0.0) as r:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        done = 0
        while done < total:
            for start in range(done, done + WAVE, BURST):
                await asyncio.gather(*(timed_command(r, i, options=OPTIONS) for i in range(start, start + BURST)))
            done += WAVE
            await r.wait_delivered(WAVE, timeout=120)
            r.trim_fakes()
            gc.collect()
            samples.append(rss_mb())
        elapsed = loop.time() - t0
        store_jobs = await r.bot.store.active_jobs()
        # discord.py keeps a View sent with an ephemeral message alive (with a task) for its 15-min timeout
        views = sum(1 for t in asyncio.all_tasks() if "timeout_task" in t.get_coro().__qualname__)
    after = samples[1:] if len(samples) > 1 else samples
    spread_mb = max(after) - min(after)
    report.add("RSS after first 100 jobs", f"{samples[0]:.1f} MiB")
    report.add(f"RSS after {total} jobs", f"{samples[-1]:.1f} MiB")
    report.add("max - min after warm-up", f"{spread_mb:.1f} MiB", "<= 20 MB", spread_mb <= 20 * 1e6 / 2**20)
    slope = (samples[-1] - samples[1]) / (total - 2 * WAVE) * 1000 if len(samples) > 2 else 0.0
    report.add("growth after warm-up (trend)", f"{slope:+.2f} MiB per 1,000 jobs")
    report.add("samples (MiB)", " ".join(f"{s:.0f}" for s in samples))
    report.add("discord.py views alive at the end", f"{views} (each kept until its 15-min timeout)")
    report.add("rate", f"{total / elapsed:.1f} jobs/s end to end; {len(store_jobs)} jobs left active")
    return report
