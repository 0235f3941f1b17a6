from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest

from easel.jobs import Job, JobState, Reply, StoredImage
from easel.request import DrawRequest
from easel.store import MIGRATIONS, Store, StoreError


def job(job_id: str, user: int = 1, **kw: object) -> Job:
    return Job(id=job_id, request=DrawRequest(prompt=f"p {job_id}", seed=5), user_id=user, channel_id=10, **kw)


async def test_jobs_survive_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = await Store.open(path)
    a = await store.add_job(job("a", reply=Reply(99, "tok", 123.0)))
    b = await store.add_job(job("b", guild_id=5))
    c = await store.add_job(job("c"))
    assert a.seq < b.seq < c.seq
    await store.update(b, state=JobState.RUNNING, backend="gpu1", attempts=1)
    await store.update(c, state=JobState.CANCELLED)
    await store.close()

    store = await Store.open(path)
    active = await store.active_jobs()
    assert [j.id for j in active] == ["a", "b"]
    assert active[0].reply == Reply(99, "tok", 123.0)
    assert active[0].request == DrawRequest(prompt="p a", seed=5)
    assert (active[1].state, active[1].backend, active[1].attempts, active[1].guild_id) == (
        JobState.RUNNING,
        "gpu1",
        1,
        5,
    )
    await store.close()


async def test_result_kept_or_dropped_after_delivery(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "e.db")
    j = await store.add_job(job("a"))
    images = [StoredImage(0, b"png0", "info0", 5), StoredImage(1, b"png1", "info1", 6)]
    await store.save_result(j, images, 1.5)
    assert j.state == JobState.GENERATED
    assert await store.load_result("a") == images
    assert [x.id for x in await store.active_jobs()] == ["a"]  # generated is still active: not posted yet
    await store.mark_delivered(j, 777, keep_images=False)
    assert await store.active_jobs() == []
    kept = await store.load_result("a")
    assert [(im.data, im.infotext, im.seed) for im in kept] == [(b"", "info0", 5), (b"", "info1", 6)]
    got = await store.get_job("a")
    assert got is not None and got.result_message_id == 777 and got.state == JobState.DELIVERED
    await store.close()


async def test_init_image_stored_beside_the_request(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "e.db")
    req = DrawRequest(prompt="x", img2img=True, init_image=b"\x89PNG...")
    await store.add_job(Job(id="i", request=req, user_id=1, channel_id=2))
    got = await store.get_job("i")
    assert got is not None and got.request.init_image == b"\x89PNG..."
    await store.close()


async def test_schema_version_and_newer_db_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = await Store.open(path)
    await store.close()
    async with aiosqlite.connect(path) as db:
        async with db.execute("PRAGMA user_version") as cur:
            assert (await cur.fetchone())[0] == len(MIGRATIONS)
        async with db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        await db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        await db.commit()
    with pytest.raises(RuntimeError, match="newer than this Easel"):
        await Store.open(path)


async def test_concurrent_writes_do_not_interleave(tmp_path: Path) -> None:
    # Storing a result is several statements while other jobs are updated (the worker no longer waits for it).
    # The interleaving that broke (sqlite3.InterfaceError, seen in bench memory at ~2,000 jobs) is rare; this is
    # the everyday case: every write lands whole.
    import asyncio

    store = await Store.open(tmp_path / "e.db")
    jobs = [await store.add_job(job(f"j{i}", user=i)) for i in range(40)]
    images = [StoredImage(k, bytes(1000) * (k + 1), f"info{k}", k) for k in range(3)]
    await asyncio.gather(
        *(store.save_result(j, images, 0.1) for j in jobs[:20]),
        *(store.update(j, state=JobState.RUNNING, attempts=1) for j in jobs[20:]),
        *(store.load_result(j.id) for j in jobs[:20]),
    )
    for j in jobs[:20]:
        assert await store.load_result(j.id) == images
        assert (await store.get_job(j.id)).state == JobState.GENERATED  # type: ignore[union-attr]
    assert {x.state for x in await store.active_jobs()} == {JobState.GENERATED, JobState.RUNNING}
    await store.close()


async def test_not_a_database_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    path.write_bytes(b"this is a config file, not a database" * 100)
    with pytest.raises(StoreError, match="not a usable Easel database") as info:
        await Store.open(path)
    assert "\n" not in str(info.value)
    path.unlink()
    store = await Store.open(path)  # the refusal left no lock behind
    await store.close()


async def test_second_easel_on_the_same_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = await Store.open(path)
    await store.add_job(job("a"))
    with pytest.raises(StoreError, match="another Easel process"):
        await Store.open(path)
    # an admin's read-only shell still works while Easel runs
    async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as ro:
        async with ro.execute("SELECT id FROM jobs") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["a"]
    await store.close()
    again = await Store.open(path)
    await again.close()


async def test_failed_write_is_rolled_back_before_the_next_commit(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = await Store.open(path)
    a = await store.add_job(job("a"))
    b = await store.add_job(job("b"))
    first = [StoredImage(0, b"png0", "info0", 5)]
    await store.save_result(a, first, 1.0)
    # the DELETE of a's images succeeds, then the INSERT fails (same index twice)
    dup = [StoredImage(0, b"x", "i", 1), StoredImage(0, b"y", "i", 1)]
    with pytest.raises(StoreError):
        await store.save_result(a, dup, 1.0)
    assert not store.healthy
    await store.update(b, state=JobState.RUNNING)  # commits on the shared connection
    assert store.healthy
    await store.close()
    store = await Store.open(path)
    assert await store.load_result("a") == first
    await store.close()


async def test_locked_database_fails_the_write_and_leaves_the_job_as_it_was(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "e.db"
    store = await Store.open(path, busy_timeout=0.05)
    a = await store.add_job(job("a"))
    admin = sqlite3.connect(path, isolation_level=None)
    admin.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            await store.update(a, state=JobState.RUNNING, attempts=1)
        assert (a.state, a.attempts) == (JobState.QUEUED, 0)
        assert (await store.get_job("a")) is not None  # reads still work under the lock (WAL)...
        assert not store.healthy  # ...but do not make the store look healthy while writes fail
    finally:
        admin.execute("ROLLBACK")
        admin.close()
    await store.update(a, state=JobState.RUNNING, attempts=1)
    assert (await store.get_job("a")).state == JobState.RUNNING  # type: ignore[union-attr]
    await store.close()
