"""Every message of a result is recorded (a result too large for one upload is posted in parts), and a database
of the previous schema is migrated in place with its jobs kept."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from easel.jobs import Job, JobState
from easel.request import DrawRequest
from easel.store import MIGRATIONS, ResultPart, Store


def job(job_id: str) -> Job:
    return Job(id=job_id, request=DrawRequest(prompt=f"p {job_id}", seed=5), user_id=1, channel_id=10)


async def test_parts_are_recorded_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = await Store.open(path)
    await store.add_job(job("a"))
    await store.add_job(job("b"))
    await store.add_result_part("a", 1, 502, channel_id=10)
    await store.add_result_part("a", 0, 501, channel_id=10)
    await store.add_result_part("b", 0, 601, channel_id=20, via="followup")
    await store.close()

    store = await Store.open(path)
    assert await store.result_parts("a") == [ResultPart(0, 501, 10), ResultPart(1, 502, 10)]
    assert await store.result_parts("b") == [ResultPart(0, 601, 20, "followup")]
    assert await store.result_parts("nope") == []
    # Recording a part again (posted again after its message was lost) keeps one row, the newest message.
    await store.add_result_part("a", 1, 503, channel_id=10, via="dm")
    assert await store.result_parts("a") == [ResultPart(0, 501, 10), ResultPart(1, 503, 10, "dm")]
    await store.close()


async def test_a_part_can_be_recorded_before_the_job_row_exists(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "e.db")
    await store.add_result_part("gone", 0, 9, channel_id=None)  # the publisher records whatever it posted
    assert await store.result_parts("gone") == [ResultPart(0, 9, None)]
    await store.close()


async def test_a_schema_2_database_is_migrated_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:2], start=1):
            await db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        await db.execute(
            "INSERT INTO jobs (id, state, user_id, channel_id, request, created_at, result_message_id) "
            "VALUES ('old1', 'delivered', 1, 10, ?, 1.0, 77)",
            ('{"prompt": "old"}',),
        )
        await db.commit()
    store = await Store.open(path)
    got = await store.get_job("old1")
    assert got is not None and got.state == JobState.DELIVERED and got.result_message_id == 77
    assert await store.result_parts("old1") == []
    await store.add_result_part("old1", 0, 77, channel_id=10)
    assert await store.result_parts("old1") == [ResultPart(0, 77, 10)]
    await store.close()
    async with aiosqlite.connect(path) as db, db.execute("PRAGMA user_version") as cur:
        assert (await cur.fetchone())[0] == len(MIGRATIONS) == 6


async def test_any_part_of_a_result_leads_back_to_its_job(tmp_path: Path) -> None:
    """Image info and Draw this again on the second message of a split result find the job, not only the first."""
    store = await Store.open(tmp_path / "e.db")
    try:
        await store.add_job(job("a"))
        await store.add_result_part("a", 0, 501, channel_id=10)
        await store.add_result_part("a", 1, 502, channel_id=10)
        await store.mark_delivered(job("a"), 501, keep_images=True)
        assert (await store.job_by_message(501)).id == "a"  # type: ignore[union-attr]
        assert (await store.job_by_message(502)).id == "a"  # type: ignore[union-attr]
        assert await store.job_by_message(999) is None
    finally:
        await store.close()
