"""A job keeps its languages in the store (the requester's and the public result's), and a job stored before
languages existed loads in English."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from easel.jobs import Job, JobState
from easel.request import DrawRequest
from easel.store import MIGRATIONS, Store


async def test_a_jobs_languages_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = await Store.open(path)
    request = DrawRequest(prompt="ein Fuchs", seed=5)
    await store.add_job(Job(id="de1", request=request, user_id=1, channel_id=10, locale="de", public_locale="fr"))
    await store.add_job(Job(id="en1", request=request, user_id=2, channel_id=10))
    await store.close()

    store = await Store.open(path)
    de, en = await store.get_job("de1"), await store.get_job("en1")
    assert de is not None and (de.locale, de.public_locale) == ("de", "fr")
    assert en is not None and (en.locale, en.public_locale) == ("en-US", None)
    assert [j.id for j in await store.active_jobs()] == ["de1", "en1"]
    await store.close()


async def test_a_job_stored_before_languages_loads_in_english(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            await db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        await db.execute(
            "INSERT INTO jobs (id, state, user_id, channel_id, request, created_at) "
            "VALUES ('old1', 'queued', 1, 10, ?, 1.0)",
            ('{"prompt": "old"}',),
        )
        await db.commit()
    store = await Store.open(path)
    old = await store.get_job("old1")
    assert old is not None and old.state == JobState.QUEUED and old.request.prompt == "old"
    assert (old.locale, old.public_locale) == ("en-US", None)
    await store.close()
