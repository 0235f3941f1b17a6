"""memory: resident set size over 2,000 jobs (1,000 with --quick), sampled every 100 jobs.

gen_seconds 0 and small (gradient) images, from 20 users, 2 backends; each wave of 100 /draw is sent in
bursts of 20. After each wave the fakes' own recordings (requests, messages, results) are dropped and the
garbage collector runs, so what remains is the bot's. VmRSS from /proc/self/status. Target: flat within
20 MB after the first 100 jobs (warm-up).

Then init images: with the webuis held, 10 img2img /draw at 512x512 from a 4096x4096 JPEG wait in line, and the
bytes of init image their requests hold are counted (a job keeps its init image until it is drawn).
"""

from __future__ import annotations

import asyncio
import gc
import io
import random

from PIL import Image

from bench.common import Report, rig, rss_mb, timed_command
from tests.fakes.discord_fake import FakeAttachment

WAVE = 100
BURST = 20
OPTIONS = {"width": 512, "height": 512, "count": 1}
INIT_JOBS = 10


def _photo_jpeg(side: int = 4096) -> bytes:
    """A photo-like JPEG: smooth noise (detail at every scale), quality 90."""
    small = Image.frombytes("RGB", (side // 8, side // 8), random.Random(1).randbytes((side // 8) ** 2 * 3))
    out = io.BytesIO()
    small.resize((side, side), Image.Resampling.BICUBIC).save(out, format="JPEG", quality=90)
    return out.getvalue()


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

        jpeg = _photo_jpeg()
        for w in r.webuis:
            w.hold()
        init_opts = {**OPTIONS, "prompt": "as a watercolor"}

        def waiting() -> list:
            return [*r.bot.queue.queued_jobs(), *r.bot.queue.running_jobs()]

        for i in range(INIT_JOBS):  # one at a time: this measures memory, not 10 decodes racing on 2 cores
            init_opts["init_image"] = FakeAttachment(f"photo{i}.jpg", jpeg, content_type="image/jpeg")
            await timed_command(r, i, options=init_opts)
            # The cog checks the upload after deferring; the queue has no "submitted" event to wait on.
            async with asyncio.timeout(60):
                while len(waiting()) <= i:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        # In memory: what the jobs in line carry (their init images wait in the store); in the store: the blobs.
        in_memory = sum(len(j.request.init_image or b"") for j in waiting())
        held = [b for j in waiting() if (b := await r.bot.store.load_init_image(j.id))]
        fitted = len(held[0]) if held else 0
        delivered = len(r.delivered)
        for w in r.webuis:
            w.release()
        await r.wait_delivered(delivered + len(held), timeout=120)
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
    held_mib = sum(len(b) for b in held) / 2**20
    report.add(
        f"init images in memory for {len(held)} waiting img2img jobs",
        f"{in_memory / 2**20:.2f} MiB",
        "0",
        in_memory == 0,
    )
    report.add(
        "the same in the store",
        f"{held_mib:.1f} MiB ({fitted / 2**20:.2f} MiB each; from a {len(jpeg) / 2**20:.1f} MiB 4096x4096 JPEG, "
        "drawn at 512x512; 31.6 MiB each before they were scaled to the drawing size)",
    )
    return report
