"""The backend's own request id (the AI Horde's) is stored with the job and survives a restart; databases from
before the column load their jobs unchanged."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from easel.jobs import Job, JobState
from easel.request import DrawRequest
from easel.store import MIGRATIONS, Store


async def test_the_remote_id_survives_a_restart(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "e.db")
    job = await store.add_job(Job(id="j1", request=DrawRequest(prompt="fox"), user_id=1, channel_id=2))
    assert job.remote_id is None
    await store.update(job, state=JobState.RUNNING, remote_id="horde-uuid-1")
    await store.close()
    store = await Store.open(tmp_path / "e.db")
    (again,) = await store.active_jobs()
    assert again.remote_id == "horde-uuid-1" and again.state == JobState.RUNNING
    await store.close()


async def test_a_database_from_before_the_column_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            await db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        await db.execute(
            "INSERT INTO jobs (id, state, user_id, channel_id, request, created_at) "
            "VALUES ('old', 'queued', 1, 2, ?, 1.0)",
            ('{"prompt": "old fox", "steps": 20}',),
        )
        await db.commit()
    store = await Store.open(path)
    (job,) = await store.active_jobs()
    assert job.id == "old" and job.remote_id is None and job.request.steps == 20
    await store.close()
