"""The presets migration and store methods: a database of the previous schema keeps its jobs (stored requests
without the profile fields load), presets are saved, replaced, listed, defaulted and deleted."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from easel.jobs import Job, JobState
from easel.presets import PresetScope
from easel.request import DrawRequest, build_payload
from easel.store import MIGRATIONS, Store


def _old_database(path: Path) -> None:
    """A database as the Easel before presets left it: schema 3, one queued job with a request of that time."""
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 3")
    old_request = {"prompt": "an old fox", "negative_prompt": "", "model": "sdxl_base", "steps": 20, "seed": 7}
    db.execute(
        "INSERT INTO jobs (id, state, user_id, guild_id, channel_id, request, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("old1", "queued", 1, 5, 10, json.dumps(old_request), 1.0),
    )
    db.commit()
    db.close()


async def test_the_migration_keeps_the_jobs_of_the_previous_schema(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    _old_database(path)
    store = await Store.open(path)
    try:
        [job] = await store.active_jobs()
        assert (job.id, job.state, job.request.prompt, job.request.steps) == ("old1", JobState.QUEUED, "an old fox", 20)
        assert (job.request.vae, job.request.modules, job.request.distilled_cfg_scale, job.request.preset) == (
            None,
            (),
            None,
            None,
        )
        payload = build_payload(job.request, flavor="forge")
        assert "distilled_cfg_scale" not in payload and "forge_additional_modules" not in payload["override_settings"]
        preset = await store.save_preset(PresetScope.USER, 1, "after", {"steps": 30}, by=1)
        assert preset.id >= 1
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()


async def test_a_request_with_profile_values_round_trips(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "e.db")
    try:
        req = DrawRequest(prompt="p", vae="v.safetensors", modules=("a", "b"), distilled_cfg_scale=3.5, preset="x")
        await store.add_job(Job(id="j1", request=req, user_id=1, channel_id=2))
        got = await store.get_job("j1")
        assert got is not None and got.request == req and got.request.modules == ("a", "b")
    finally:
        await store.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "e.db")
    yield s
    await s.close()


async def test_presets_saved_replaced_listed_defaulted_deleted(store: Store) -> None:
    a = await store.save_preset(PresetScope.USER, 1, "Anime", {"steps": 30}, by=1)
    again = await store.save_preset(PresetScope.USER, 1, "anime", {"steps": 31}, by=1)  # names ignore case
    assert again.id == a.id and again.options == {"steps": 31} and again.name == "anime"
    await store.save_preset(PresetScope.USER, 2, "anime", {"steps": 5}, by=2)
    server = await store.save_preset(PresetScope.SERVER, 9, "photo", {"cfg_scale": 4.0}, by=3)
    assert await store.count_presets(PresetScope.USER, 1) == 1
    assert [p.name for p in await store.list_presets(PresetScope.USER, 1)] == ["anime"]
    assert (await store.get_preset(PresetScope.USER, 1, "ANIME")) == again
    assert await store.preset_by_id(server.id) == server

    await store.set_default_preset(1, server.id)
    assert await store.default_preset(1) == server
    await store.set_default_preset(1, a.id)
    assert await store.default_preset(1) == again
    assert await store.delete_preset(a.id)
    assert await store.default_preset(1) is None  # deleting it drops it as a default
    assert not await store.delete_preset(a.id)

    await store.set_model_profile(9, "sdxl_base", {"steps": 40}, by=3)
    assert await store.get_model_profiles(9) == {"sdxl_base": {"steps": 40}}
    await store.set_model_profile(9, "sdxl_base", {}, by=3)
    assert await store.get_model_profiles(9) == {}
