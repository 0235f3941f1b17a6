"""post_latency: the webui answered -> the result message is posted.

From the moment the webui fake hands its answer to its HTTP server (``FakeWebui.answer_times``) to the moment
the Discord fake has received the whole result upload (``RecordedRequest.time``): reading and decoding the
answer, storing the images in SQLite, building and sending the multipart message. Both fakes stamp with the
same event loop's clock. One 512x512 image per job; noise PNGs (~770 KB, a little larger than a real
512x512 render) so the bytes are realistic. Targets: median < 50 ms, p99 < 250 ms.
"""

from __future__ import annotations

import statistics

from bench.common import Report, ms, percentile, rig, spread, timed_command

BACKENDS = 2
GEN_SECONDS = 0.2


async def run(quick: bool) -> Report:
    jobs = 40 if quick else 150
    rate = BACKENDS / GEN_SECONDS * 0.8  # keep the backends mostly busy without a long line
    report = Report(
        "post_latency",
        f"{jobs} jobs of 1 x 512x512 noise PNG from 8 users at ~{rate:g}/s, {BACKENDS} backends at "
        f"{GEN_SECONDS:g} s/image, status edits every 5 s",
    )
    async with rig(BACKENDS, users=8, gen_seconds=GEN_SECONDS, image_style="noise") as r:
        options = {"width": 512, "height": 512, "count": 1}
        await spread(jobs, rate, lambda i: timed_command(r, i, options=options), timeout=jobs / rate + 60)
        await r.wait_delivered(jobs, timeout=120)
        answers = r.answers()
        posts = r.result_posts()
        size = statistics.median(len(b) for w in r.webuis for res in w.results for b in res)
        to_post = [posts[k][0].time - answers[k] for k in r.jobs if k in posts and k in answers]
        to_done = [r.delivered[k] - answers[k] for k in r.jobs if k in answers]
    med, p99 = statistics.median(to_post), percentile(to_post, 99)
    report.add("answered -> posted: median", ms(med), "< 50 ms", med < 0.050)
    report.add("answered -> posted: p99", ms(p99), "< 250 ms", p99 < 0.250)
    report.add("answered -> posted: max", ms(max(to_post)))
    report.add(
        "answered -> delivery done (+ reply edited): median / p99",
        f"{ms(statistics.median(to_done))} / {ms(percentile(to_done, 99))}",
    )
    report.add("jobs measured / PNG size", f"{len(to_post)} / {size / 1024:.0f} KiB")
    return report
