"""The queue against the fake webui, with a recording publisher in place of Discord."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from easel.backends.webui import WebuiClient
from easel.catalog import Catalog
from easel.config import Config
from easel.jobs import Job, JobState, StoredImage, new_id
from easel.queue import Backend, JobQueue, QueueFull
from easel.request import DrawRequest
from easel.store import Store
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import QUEUE, make_config


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.delivered: dict[str, list[StoredImage]] = {}
        self._changed = asyncio.Event()

    def _add(self, kind: str, job: Job, data: Any = None) -> None:
        self.events.append((kind, job.id, data))
        self._changed.set()

    async def queued(self, job: Job, position: int, eta: float | None) -> None:
        self._add("queued", job, position)

    async def started(self, job: Job, backend: str) -> None:
        self._add("started", job, backend)

    async def progress(self, job: Job, fraction: float, eta: float | None, preview: bytes | None, **kw: Any) -> None:
        self._add("progress", job, fraction)

    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        self.delivered[job.id] = images
        self._add("deliver", job, recovered)
        return 1000 + job.seq

    async def failed(self, job: Job, message: str) -> None:
        self._add("failed", job, message)

    async def cancelled(self, job: Job) -> None:
        self._add("cancelled", job)

    def of(self, kind: str) -> list[tuple[str, Any]]:
        return [(job_id, data) for k, job_id, data in self.events if k == kind]

    async def wait(self, predicate: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


class Harness:
    def __init__(self, cfg: Config, store: Store, queue: JobQueue, rec: Recorder) -> None:
        self.cfg, self.store, self.queue, self.rec = cfg, store, queue, rec

    async def submit(self, user: int, prompt: str, guild: int = 1, **req: Any) -> Job:
        job = Job(
            id=new_id(), request=DrawRequest(prompt=prompt, steps=4, **req), user_id=user, channel_id=5, guild_id=guild
        )
        await self.queue.submit(job)
        return job


async def make(
    cfg: Config, session: aiohttp.ClientSession, rec: Recorder | None = None, *, busy_timeout: float = 5.0
) -> Harness:
    store = await Store.open(cfg.storage.path, busy_timeout=busy_timeout)
    backends = [
        Backend(
            b,
            WebuiClient(
                b.url,
                session,
                name=b.name,
                connect_timeout=1.0,
                read_timeout=cfg.webui.read_timeout,
                exclusive=b.exclusive,
            ),
        )
        for b in cfg.backends
    ]
    rec = rec or Recorder()
    queue = JobQueue(cfg, store, Catalog(), backends, rec)
    await queue.start()
    return Harness(cfg, store, queue, rec)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def webui() -> AsyncIterator[FakeWebui]:
    fake = FakeWebui()
    await fake.start()
    yield fake
    await fake.stop()


async def wait_up(h: Harness, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not all(b.up for b in h.queue.backends.values()):
            await h.queue.wait_changed()


async def test_round_robin_between_users(tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession) -> None:
    h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
    webui.hold()
    await h.submit(1, "a1")
    await webui.wait_generation_started(1)
    for prompt in ("a2", "a3", "a4"):
        await h.submit(1, prompt)
    await h.submit(2, "b1")
    await h.submit(3, "c1", guild=2)
    webui.release()
    await h.rec.wait(lambda: len(h.rec.delivered) == 6)
    order = [g["prompt"] for g in webui.generations]
    # user 3 is in another guild (served least recently), then user 2, then user 1's backlog
    assert order == ["a1", "c1", "b1", "a2", "a3", "a4"]
    await h.queue.stop()
    await h.store.close()


async def test_images_delivered_byte_for_byte_and_stored(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
    job = await h.submit(1, "a cat", count=3, seed=100)
    await h.rec.wait(lambda: job.id in h.rec.delivered)
    images = h.rec.delivered[job.id]
    assert [im.data for im in images] == webui.results[0][-3:]
    assert [im.seed for im in images] == [100, 101, 102]
    assert images[0].infotext.startswith("a cat\n")
    await h.queue.wait_idle()
    stored = await h.store.get_job(job.id)
    assert stored is not None and stored.state == JobState.DELIVERED and stored.result_message_id == 1000 + job.seq
    assert webui.options_posts == []  # never a global model switch
    await h.queue.stop()
    await h.store.close()


async def test_5xx_retried_then_succeeds_and_4xx_fails_at_once(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
    await wait_up(h)
    webui.fail_next("txt2img", 500)
    ok = await h.submit(1, "retry me")
    await h.rec.wait(lambda: ok.id in h.rec.delivered)
    assert (await h.store.get_job(ok.id)).attempts == 2  # type: ignore[union-attr]

    webui.fail_next("txt2img", 422, {"detail": [{"loc": ["body", "steps"], "msg": "bad", "type": "x"}]})
    bad = await h.submit(2, "refused")
    await h.rec.wait(lambda: h.rec.of("failed"))
    (job_id, message), *_ = h.rec.of("failed")
    assert job_id == bad.id and "refused" in message and "error id" in message
    stored = await h.store.get_job(bad.id)
    assert stored is not None and stored.state == JobState.FAILED and stored.attempts == 1
    await h.queue.stop()
    await h.store.close()


async def test_down_backend_hands_its_job_to_another(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    other = FakeWebui()
    await other.start()
    try:
        h = await make(make_config([webui.url, other.url], tmp_path / "q.db", preset=QUEUE), session)
        await wait_up(h)
        webui.hang_next("txt2img")
        other.hold()
        first = await h.submit(1, "one")
        second = await h.submit(2, "two")
        await h.rec.wait(lambda: len(h.rec.of("started")) >= 2)
        await webui.down()  # the hanging request's connection drops; gpu0 is down
        other.release()
        await h.rec.wait(lambda: {first.id, second.id} <= set(h.rec.delivered))
        assert not h.queue.backends["gpu0"].up
        backends = {job_id: b for job_id, b in h.rec.of("started")}
        assert set(backends.values()) >= {"gpu1"}
        await webui.up()
        await h.queue.stop()
        await h.store.close()
    finally:
        await other.stop()


async def test_hung_webui_times_out_and_job_fails_after_retries(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    cfg = make_config([webui.url], tmp_path / "q.db", preset=QUEUE, webui={"read_timeout": 0.3, "max_attempts": 2})
    h = await make(cfg, session)
    await wait_up(h)
    webui.hang_next("txt2img", times=2)
    job = await h.submit(1, "hang")
    await h.rec.wait(lambda: h.rec.of("failed"), timeout=15)
    assert h.rec.of("failed")[0][0] == job.id
    assert "took too long" in h.rec.of("failed")[0][1]
    webui.release_hung()
    later = await h.submit(2, "after")
    await h.rec.wait(lambda: later.id in h.rec.delivered, timeout=15)
    await h.queue.stop()
    await h.store.close()


async def test_cancel_queued_and_running(tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession) -> None:
    h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
    webui.hold()
    running = await h.submit(1, "running")
    await webui.wait_generation_started(1)
    queued = await h.submit(1, "queued")
    other = await h.submit(2, "someone else")
    assert not (await h.queue.cancel(other.id, user_id=1)).ok
    assert (await h.queue.cancel(queued.id, user_id=1)).ok
    assert (await h.queue.cancel(running.id, user_id=1)).ok
    await h.rec.wait(lambda: len(h.rec.of("cancelled")) == 2)
    assert webui.interrupts == 1
    webui.release()
    await h.rec.wait(lambda: other.id in h.rec.delivered)
    assert set(h.rec.delivered) == {other.id}
    assert [g["prompt"] for g in webui.generations] == ["running", "someone else"]
    for job_id in (running.id, queued.id):
        assert (await h.store.get_job(job_id)).state == JobState.CANCELLED  # type: ignore[union-attr]
    await h.queue.stop()
    await h.store.close()


async def test_restart_runs_queued_and_running_jobs_once(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    cfg = make_config([webui.url], tmp_path / "q.db", preset=QUEUE)
    h = await make(cfg, session)
    webui.hold()
    jobs = [await h.submit(u, f"job {u}") for u in (1, 2, 3)]
    await webui.wait_generation_started(1)
    await h.queue.stop()  # graceful stop with no grace: the running job goes back in line
    await h.store.close()
    webui.release()

    h2 = await make(cfg, session)
    await h2.rec.wait(lambda: len(h2.rec.delivered) == 3)
    assert set(h2.rec.delivered) == {j.id for j in jobs}
    assert len(h2.rec.of("deliver")) == 3
    await h2.queue.stop()
    await h2.store.close()


async def test_generated_job_is_delivered_after_restart(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    cfg = make_config([webui.url], tmp_path / "q.db", preset=QUEUE)

    class FailingDelivery(Recorder):
        async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
            self._add("deliver-attempt", job)
            await asyncio.Event().wait()  # the bot dies while posting
            return None

    h = await make(cfg, session, FailingDelivery())
    job = await h.submit(1, "posted after restart")
    await h.rec.wait(lambda: h.rec.of("deliver-attempt"))
    await h.queue.stop()
    await h.store.close()
    assert webui.completed_count == 1

    h2 = await make(cfg, session)
    await h2.rec.wait(lambda: job.id in h2.rec.delivered)
    assert h2.rec.of("deliver") == [(job.id, True)]  # flagged as recovered: the publisher checks for a post
    assert webui.completed_count == 1  # not generated again
    await h2.queue.stop()
    await h2.store.close()


async def test_per_user_limit_and_cooldown(tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession) -> None:
    now = [1000.0]
    cfg = make_config(
        [webui.url], tmp_path / "q.db", preset=QUEUE, limits={"max_queued_per_user": 2, "cooldown_seconds": 30}
    )
    store = await Store.open(cfg.storage.path)
    client = WebuiClient(webui.url, session)
    queue = JobQueue(cfg, store, Catalog(), [Backend(cfg.backends[0], client)], Recorder(), clock=lambda: now[0])
    webui.hold()
    await queue.start()

    def job(user: int) -> Job:
        return Job(id=new_id(), request=DrawRequest(prompt="x"), user_id=user, channel_id=1)

    await queue.submit(job(1))
    with pytest.raises(QueueFull, match="again in 30 s"):
        await queue.submit(job(1))
    now[0] += 31
    await queue.submit(job(1))
    now[0] += 31
    with pytest.raises(QueueFull, match="limit 2"):
        await queue.submit(job(1))
    await queue.submit(job(2))  # other users are not affected
    webui.release()
    await queue.stop()
    await store.close()


async def until(h: Harness, predicate: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Until ``predicate()`` holds, re-checked whenever the queue reports a change (a failed store write does)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await h.queue.wait_changed()


async def test_locked_database_does_not_stop_the_worker(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    db = tmp_path / "q.db"
    h = await make(make_config([webui.url], db, preset=QUEUE), session, busy_timeout=0.05)
    webui.hold()
    a = await h.submit(1, "a")
    await webui.wait_generation_started(1)
    b = await h.submit(2, "b")
    admin = sqlite3.connect(db, isolation_level=None)  # an admin's shell holding the write lock
    admin.execute("BEGIN IMMEDIATE")
    try:
        webui.release()
        # a's result cannot be stored and b cannot be marked running: both are retried, nobody dies
        await until(h, lambda: h.store.failures >= 4)
        assert not h.queue.store_ok
        with pytest.raises(QueueFull, match="database is busy"):
            await h.submit(3, "refused while locked")
    finally:
        admin.execute("ROLLBACK")
        admin.close()
    await h.rec.wait(lambda: {a.id, b.id} <= set(h.rec.delivered), timeout=20)
    assert h.queue.store_ok
    c = await h.submit(3, "after")
    await h.rec.wait(lambda: c.id in h.rec.delivered)
    assert [g["prompt"] for g in webui.generations] == ["a", "b", "after"]
    assert h.rec.of("failed") == []
    await h.queue.wait_idle()
    for job in (a, b, c):
        assert (await h.store.get_job(job.id)).state == JobState.DELIVERED  # type: ignore[union-attr]
    await h.queue.stop()
    await h.store.close()


async def test_a_dying_loop_is_restarted(tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession) -> None:
    h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
    await wait_up(h)
    broken = [True]
    original = h.queue._orphans

    async def orphans_once_broken() -> None:
        if broken[0]:
            broken[0] = False
            raise RuntimeError("a bug in the worker loop")
        await original()

    h.queue._orphans = orphans_once_broken  # type: ignore[method-assign]
    job = await h.submit(1, "drawn after the restart")
    await h.rec.wait(lambda: job.id in h.rec.delivered, timeout=10)
    assert h.queue.restarts == 1
    await h.queue.stop()
    await h.store.close()


async def test_concurrent_submits_cannot_pass_the_limit_together(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    cfg = make_config([webui.url], tmp_path / "q.db", preset=QUEUE, limits={"max_queued_per_user": 3})
    h = await make(cfg, session, busy_timeout=0.05)
    webui.hold()

    def job(user: int) -> Job:
        return Job(id=new_id(), request=DrawRequest(prompt="x", steps=4), user_id=user, channel_id=1, guild_id=1)

    results = await asyncio.gather(*(h.queue.submit(job(1)) for _ in range(8)), return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 3
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(refusals) == 5 and all(isinstance(r, QueueFull) and "limit 3" in str(r) for r in refusals)
    assert len([j for j in await h.store.active_jobs() if j.user_id == 1]) == 3
    # a submit whose store write fails gives its reservation back
    admin = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    admin.execute("BEGIN IMMEDIATE")
    try:
        h2_job = job(2)
        with pytest.raises(QueueFull, match="database is busy"):
            await h.queue.submit(h2_job, max_queued=1)
    finally:
        admin.execute("ROLLBACK")
        admin.close()
    await h.queue.submit(job(2), max_queued=1)
    webui.release()
    await h.queue.stop()
    await h.store.close()


async def test_line_length_and_per_guild_caps(tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession) -> None:
    cfg = make_config(
        [webui.url],
        tmp_path / "q.db",
        preset=QUEUE,
        limits={"max_queued_per_user": 10, "max_queue_length": 5, "max_queued_per_guild": 3},
    )
    h = await make(cfg, session)
    webui.hold()
    first = await h.submit(1, "running", guild=1)
    await webui.wait_generation_started(1)
    for user in (2, 3, 4):
        await h.submit(user, "waiting", guild=1)
    with pytest.raises(QueueFull, match=r"server's line is full \(3 jobs\)"):
        await h.submit(5, "guild full", guild=1)
    await h.submit(6, "other server", guild=2)
    await h.submit(7, "other server", guild=3)
    with pytest.raises(QueueFull, match=r"The line is full \(5 jobs\); try again in a few minutes\."):
        await h.submit(8, "line full", guild=4)
    assert (await h.queue.cancel(first.id, user_id=1)).ok  # the running job does not count against the line
    webui.release()
    await h.rec.wait(lambda: len(h.rec.delivered) == 5)
    await h.submit(8, "room again", guild=4)
    await h.queue.stop()
    await h.store.close()


async def test_request_the_webui_never_registers_is_abandoned_and_the_line_moves(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    # read_timeout alone would hold the backend 30 s x 3 attempts
    cfg = make_config(
        [webui.url], tmp_path / "q.db", preset=QUEUE, webui={"read_timeout": 30.0, "lost_task_timeout": 0.5}
    )
    h = await make(cfg, session)
    await wait_up(h)
    webui.hang_next("txt2img")
    hung = await h.submit(1, "hangs")
    nxt = await h.submit(2, "next user")
    await h.rec.wait(lambda: nxt.id in h.rec.delivered, timeout=10)
    (job_id, message), *_ = h.rec.of("failed")
    assert job_id == hung.id and "stopped responding" in message
    assert webui.interrupts == 0  # the webui was not running it: nothing of anyone's was stopped
    assert h.queue.backends["gpu0"].stalls == 1
    webui.release_hung()
    await h.queue.stop()
    await h.store.close()


async def test_stuck_generation_is_interrupted_and_retried_on_another_backend(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    other = FakeWebui()
    await other.start()
    try:
        await other.down()  # the first job starts on gpu0
        cfg = make_config(
            [webui.url, other.url],
            tmp_path / "q.db",
            preset=QUEUE,
            webui={"read_timeout": 30.0, "stall_timeout": 1.5, "lost_task_timeout": 5.0},
        )
        h = await make(cfg, session)
        async with asyncio.timeout(5):
            while not h.queue.backends["gpu0"].up:
                await h.queue.wait_changed()
        webui.hold()  # the generation stops at step 1 and never moves
        job = await h.submit(1, "stuck")
        await webui.wait_generation_started(1)
        await other.up()
        await wait_up(h)
        await h.rec.wait(lambda: job.id in h.rec.delivered, timeout=15)
        assert webui.interrupts == 1  # it was ours and running
        assert [g["prompt"] for g in other.generations] == ["stuck"]
        assert [b for _, b in h.rec.of("started")] == ["gpu0", "gpu1"]
        assert h.rec.of("failed") == []
        await h.queue.stop()
        await h.store.close()
    finally:
        await other.stop()


async def test_waiting_in_the_webuis_own_queue_is_not_a_stall(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    cfg = make_config(
        [webui.url],
        tmp_path / "q.db",
        preset=QUEUE,
        webui={"read_timeout": 30.0, "stall_timeout": 0.4, "lost_task_timeout": 0.4},
    )
    h = await make(cfg, session)
    await wait_up(h)
    webui.hold()
    # another client of the same webui: its generation runs (held, not moving) and holds the webui's queue
    other_client = asyncio.create_task(session.post(f"{webui.url}/sdapi/v1/txt2img", json={"prompt": "theirs"}))
    await webui.wait_generation_started(1)
    job = await h.submit(1, "ours, waiting behind theirs")

    def polls() -> int:
        return sum(
            1
            for _, path, body in webui.requests
            if path == "/internal/progress" and body.get("id_task", "").startswith(f"easel-{job.id}")
        )

    await webui.wait_for(lambda: polls() >= 12, timeout=10)  # well past both timeouts
    webui.release()
    await h.rec.wait(lambda: job.id in h.rec.delivered, timeout=10)
    assert webui.interrupts == 0 and h.rec.of("failed") == []
    assert h.queue.backends["gpu0"].stalls == 0
    (await other_client).release()
    await h.queue.stop()
    await h.store.close()


async def test_cancel_on_a_shared_webui_without_task_progress_does_not_interrupt(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    webui = FakeWebui(internal_progress=False)
    await webui.start()
    try:
        h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)  # exclusive = false
        webui.hold()
        job = await h.submit(1, "cancelled")
        await webui.wait_generation_started(1)
        result = await h.queue.cancel(job.id, user_id=1)
        assert result.ok and "will not be posted" in result.message
        assert webui.interrupts == 0  # the running picture may be someone else's: not stopped
        later = await h.submit(2, "someone else")
        webui.release()
        await h.rec.wait(lambda: later.id in h.rec.delivered)
        assert h.rec.of("cancelled") == [(job.id, None)]
        assert job.id not in h.rec.delivered
        assert (await h.store.get_job(job.id)).state == JobState.CANCELLED  # type: ignore[union-attr]
        await h.queue.stop()
        await h.store.close()
    finally:
        await webui.stop()


def _init_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


def _sent_init_images(webui: FakeWebui) -> list[bytes]:
    import base64

    return [base64.b64decode(body["init_images"][0]) for _, path, body in webui.requests if path == "/sdapi/v1/img2img"]


async def test_queued_init_images_wait_in_the_store_not_in_memory(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    cfg = make_config([webui.url], tmp_path / "q.db", preset=QUEUE)
    init = _init_png()
    h = await make(cfg, session)
    webui.hold()
    await h.submit(1, "keeps the backend busy")
    await webui.wait_generation_started(1)
    waiting = await h.submit(2, "img2img, waits", img2img=True, init_image=init, width=64, height=64)
    queued = h.queue.find(waiting.id)
    assert queued is not None and queued.request.init_image is None  # the blob is not held in the line
    webui.release()
    await h.rec.wait(lambda: waiting.id in h.rec.delivered)
    assert _sent_init_images(webui) == [init]

    # queued at shutdown: after the restart it still draws from the stored image
    webui.hold()
    await h.submit(1, "busy again")
    await webui.wait_generation_started(3)
    restarted = await h.submit(3, "img2img across a restart", img2img=True, init_image=init, width=64, height=64)
    await h.queue.stop()
    await h.store.close()
    webui.release()
    h2 = await make(cfg, session)
    await h2.rec.wait(lambda: restarted.id in h2.rec.delivered)
    assert all(j.request.init_image is None for j in h2.queue.queued_jobs())
    assert _sent_init_images(webui) == [init, init]
    await h2.queue.stop()
    await h2.store.close()


async def test_per_user_memories_are_bounded(tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession) -> None:
    cfg = make_config([webui.url], tmp_path / "q.db", preset=QUEUE, limits={"cooldown_seconds": 0})
    h = await make(cfg, session)
    h.queue.fairness_memory, h.queue.prune_every = 5, 10
    jobs = [await h.submit(user, f"user {user}", guild=user) for user in range(1, 41)]
    await h.rec.wait(lambda: len(h.rec.delivered) == 40, timeout=20)
    await h.queue.wait_idle()
    webui.hold()
    late = [await h.submit(user, "late", guild=1) for user in range(100, 110)]  # the 10th submit prunes
    assert len(h.queue._user_served) <= 5 + 1  # + the user whose job is running
    assert len(h.queue._guild_served) <= 5 + 1
    assert len(h.queue._last_submit) <= 10
    assert set(h.queue._sent_position) <= {j.id for j in late}
    assert len(jobs) == 40
    # fairness still holds for the users who are in line: one job each, in order
    webui.release()
    await h.rec.wait(lambda: all(j.id in h.rec.delivered for j in late))
    await h.queue.stop()
    await h.store.close()


async def test_a_job_whose_lora_no_backend_has_any_more_fails_instead_of_waiting_forever(
    tmp_path: Path, webui: FakeWebui, session: aiohttp.ClientSession
) -> None:
    h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
    await wait_up(h)
    gone = await h.submit(1, "queued before the LoRA was deleted", lora="deleted_lora:0.8")
    kept = await h.submit(2, "a LoRA that is still there", lora="add_detail:0.5")
    await h.rec.wait(lambda: kept.id in h.rec.delivered, timeout=10)
    await h.rec.wait(lambda: any(e[0] == "failed" and e[1] == gone.id for e in h.rec.events), timeout=10)
    message = next(e[2] for e in h.rec.events if e[0] == "failed" and e[1] == gone.id)
    assert message == "No image server has this job's LoRAs or face fix any more."
    assert [g["prompt"] for g in webui.generations] == ["a LoRA that is still there <lora:add_detail:0.5>"]
    await h.queue.stop()
    await h.store.close()
