"""nsfw: what the image check (NudeNet on the CPU, easel/safety/images.py) adds per picture and to post latency.

1. Per picture: ``await NudeNetClassifier.classify(png)`` on an idle loop, one at a time: decoding the PNG,
   downscaling to the model's 320 px, the model run, the worker-thread hops. Noise PNGs (incompressible, the
   slowest to decode) at 512x512 (~770 KB) and 1024x1024 (~3 MB).
2. Post latency: the real bot with 2 webui fakes, 1 x 1024x1024 noise PNG per job; webui answered -> result
   posted (as in bench/post_latency.py), once as the bot is and once with the check run on every image before
   the post (the publisher's ``deliver`` wrapped: classify each image, then post), with the event loop's lag.

Target (the issue): median added post latency < 150 ms per 1024x1024 image on 2 cores. Needs
requirements-nsfw.txt (requirements-dev.txt includes it).
"""

from __future__ import annotations

import functools
import io
import random
import statistics
import time
from typing import Any

from PIL import Image

from bench.common import LoopLag, Report, ms, percentile, rig, spread, timed_command
from easel.safety.images import NudeNetClassifier, missing_dependency
from tests.helpers import make_config

TARGET = 0.150  # s: median added post latency per 1024x1024 image
BACKENDS = 2
GEN_SECONDS = 1.0


@functools.cache
def noise_png(side: int, variant: int) -> bytes:
    im = Image.frombytes("RGB", (side, side), random.Random(variant).randbytes(side * side * 3))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


async def per_picture(clf: NudeNetClassifier, side: int, n: int) -> list[float]:
    pictures = [noise_png(side, v) for v in range(4)]
    await clf.classify(pictures[0])  # warm: first-run allocations
    times: list[float] = []
    for i in range(n):
        t = time.perf_counter()
        verdict = await clf.classify(pictures[i % 4])
        times.append(time.perf_counter() - t)
        assert not verdict.flagged
    return times


async def post_latency(jobs: int, clf: NudeNetClassifier | None) -> tuple[list[float], list[float], LoopLag]:
    """answered -> posted per job, the check's own time per job (empty without it), the loop's lag."""
    rate = BACKENDS / GEN_SECONDS * 0.8
    checks: list[float] = []
    async with rig(BACKENDS, users=8, gen_seconds=GEN_SECONDS, image_style="noise") as r:
        publisher = r.bot.publisher
        if clf is not None:
            deliver = publisher.deliver

            async def checked(job: Any, images: Any, *, recovered: bool = False) -> int | None:
                t = time.perf_counter()
                for im in images:
                    await clf.classify(im.data)
                checks.append(time.perf_counter() - t)
                return await deliver(job, images, recovered=recovered)

            publisher.deliver = checked  # type: ignore[method-assign]
        options = {"width": 1024, "height": 1024, "count": 1}
        with LoopLag() as lag:
            await spread(jobs, rate, lambda i: timed_command(r, i, options=options), timeout=jobs / rate + 60)
            await r.wait_delivered(jobs, timeout=180)
        answers, posts = r.answers(), r.result_posts()
        to_post = [posts[k][0].time - answers[k] for k in r.jobs if k in posts and k in answers]
    return to_post, checks, lag


async def run(quick: bool) -> Report:
    n = 15 if quick else 60
    jobs = 20 if quick else 60
    report = Report(
        "nsfw",
        f"NudeNet 320n on the CPU; {n} noise PNGs per size one at a time; then {jobs} jobs of 1 x 1024x1024 noise PNG "
        f"at ~{BACKENDS / GEN_SECONDS * 0.8:g}/s on {BACKENDS} backends, without and with the check before the post",
    )
    reason = missing_dependency()
    if reason is not None:
        report.add("image check", "not installed", reason, False)
        return report
    clf = NudeNetClassifier.from_config(make_config().safety)
    t = time.perf_counter()
    await clf.load()
    report.add("model load (once)", ms(time.perf_counter() - t))
    for side in (512, 1024):
        times = await per_picture(clf, side, n)
        med, p95 = statistics.median(times), percentile(times, 95)
        judged = side == 1024
        report.add(f"added per {side}x{side} picture: median", ms(med), "< 150 ms", med < TARGET, judged=judged)
        report.add(f"added per {side}x{side} picture: p95", ms(p95))

    base, _, base_lag = await post_latency(jobs, None)
    with_check, checks, lag = await post_latency(jobs, clf)
    b_med, c_med = statistics.median(base), statistics.median(with_check)
    report.add("answered -> posted, no check: median / p95", f"{ms(b_med)} / {ms(percentile(base, 95))}")
    report.add("answered -> posted, with check: median / p95", f"{ms(c_med)} / {ms(percentile(with_check, 95))}")
    report.add("added post latency per 1024x1024 image: median", ms(c_med - b_med), "< 150 ms", c_med - b_med < TARGET)
    report.add(
        "the check inside deliver: median / p95", f"{ms(statistics.median(checks))} / {ms(percentile(checks, 95))}"
    )
    report.add("event loop lag, no check", base_lag.describe())
    report.add("event loop lag, with check", lag.describe())
    report.notes.append(f"jobs measured: {len(base)} / {len(with_check)}")
    return report
