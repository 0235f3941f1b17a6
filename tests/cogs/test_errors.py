"""One error path: a button whose handler fails answers with an error id (and logs it); a refusal is one line."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, running_easel
from tests.cogs.test_results import button, click, nth_result


async def test_a_failing_button_answers_with_an_error_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a lighthouse")
        result = await e.result_for(ALICE)
        job_id = result.content.split("`")[1]

        def corrupt() -> None:  # the stored request is no longer JSON: loading the job raises
            with sqlite3.connect(e.config.storage.path) as db:
                assert db.execute("UPDATE jobs SET request = '{oops' WHERE id = ?", (job_id,)).rowcount == 1

        await asyncio.to_thread(corrupt)
        with caplog.at_level(logging.ERROR, logger="cogs.utils.errors"):
            inter = await click(e, result, button(result, "reroll"))
        assert inter.ephemeral and inter.response_type == 4
        text = inter.response["data"]["content"]
        found = re.fullmatch(r"Something went wrong \(error id `([A-Z0-9]{6})`\)\.", text)
        assert found, text
        logged = [r for r in caplog.records if found[1] in r.getMessage()]
        assert logged and logged[0].exc_info is not None and "reroll" in logged[0].getMessage()
        assert len(e.webui.generations) == 1  # nothing was queued

        # The bot keeps serving, and a refusal on the same path is its one line, without an error id.
        await e.draw(prompt="a second lighthouse")
        second = await nth_result(e, ALICE, 2)
        refused = await click(e, second, button(second, "reroll"), user=BOB)
        assert refused.response["data"]["content"] == "Only its requester can use this button."


async def test_a_failing_command_answers_with_an_error_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a lighthouse")
        result = await e.result_for(ALICE)
        job_id = result.content.split("`")[1]
        assert e.bot is not None
        async with asyncio.timeout(10):
            await e.bot.queue.wait_idle()  # delivered: the result's message id is recorded

        def corrupt() -> None:
            with sqlite3.connect(e.config.storage.path) as db:
                assert db.execute("UPDATE jobs SET request = '[]' WHERE id = ?", (job_id,)).rowcount == 1

        await asyncio.to_thread(corrupt)
        with caplog.at_level(logging.ERROR, logger="cogs.utils.errors"):
            inter = await e.discord.context_menu(
                "Image info", result, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
            )
            await inter.wait_response(5)
        assert inter.ephemeral
        found = re.fullmatch(r"Something went wrong \(error id `([A-Z0-9]{6})`\)\.", inter.response["data"]["content"])
        assert found, inter.response
        assert any(found[1] in r.getMessage() and "/Image info" in r.getMessage() for r in caplog.records)
