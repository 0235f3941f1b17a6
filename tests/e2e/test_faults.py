"""Faults end to end: the real bot keeps serving through a locked database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.harness import ALICE, BOB, running_easel


async def test_locked_database_refuses_politely_and_drawing_resumes(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        e.webui.hold()
        await e.draw(user=ALICE, prompt="drawn before the lock, stored after it")
        await e.webui.wait_generation_started(1)
        admin = sqlite3.connect(tmp_path / "easel.db", isolation_level=None)  # an admin's shell, mid-transaction
        admin.execute("BEGIN IMMEDIATE")
        try:
            e.webui.release()
            refused = await e.draw(user=BOB, prompt="while locked")
            assert refused.ephemeral
            assert "database is busy" in refused.response["data"]["content"]
            assert refused.response_latency is not None and refused.response_latency < 3.0
            assert not e.bot.queue.store_ok
        finally:
            admin.execute("ROLLBACK")
            admin.close()
        await e.result_for(ALICE, timeout=30)  # the result waited for the store, it was not lost
        later = await e.draw(user=BOB, prompt="after the lock")
        assert "#1" in later.response["data"]["content"]
        await e.result_for(BOB, timeout=15)
        assert e.bot.queue.store_ok
