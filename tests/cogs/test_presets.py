"""/preset and /draw preset: end to end: saved from the last request or a job, used, the default applied, server
presets, someone else's refused, a preset whose model is gone refused, the cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from easel.request import aspect_size
from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, Easel, running_easel

ADMIN = 333333333333333338
MANAGE_GUILD = 1 << 5


@pytest.fixture
async def e(tmp_path: Path) -> AsyncIterator[Easel]:
    async with running_easel(tmp_path, presets={"max_per_user": 2}) as easel:
        easel.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        yield easel


async def run(e: Easel, sub: str, as_user: int = ALICE, **options: object) -> str:
    inter = await e.discord.invoke(
        "preset", options or None, user_id=as_user, guild_id=GUILD, channel_id=CHANNEL, subcommand=sub
    )
    response = await inter.wait_response(5)
    assert inter.ephemeral
    return str(response["data"]["content"])


async def drawn(e: Easel, n: int) -> dict[str, Any]:
    """The payload of the n-th generation (1 = the first), once the webui has it."""
    await e.discord.wait_until(lambda: len(e.webui.generations) >= n, timeout=10)
    return e.webui.generations[n - 1]


async def draw_refused(e: Easel, user: int = ALICE, **options: Any) -> str:
    before = len(e.webui.generations)
    inter = await e.draw(user=user, **options)
    assert inter.ephemeral
    assert e.bot is not None and e.bot.queue.queued_jobs() == [] and len(e.webui.generations) == before
    return str(inter.response["data"]["content"])


async def test_save_the_last_request_and_draw_with_it(e: Easel) -> None:
    assert e.bot is not None
    assert "no request to save" in await run(e, "save", name="wide")
    await e.draw(prompt="a red fox", steps=33, cfg_scale=6, aspect="16:9", sampler="DPM++ 2M", negative_prompt="blurry")
    await drawn(e, 1)
    text = await run(e, "save", name="wide")
    assert "Saved your preset `wide`" in text and "steps:33" in text and "aspect:16:9" in text

    await e.draw(prompt="a cat", preset="wide")
    payload = await drawn(e, 2)
    w, h = aspect_size("16:9", e.bot.config)
    assert (payload["steps"], payload["cfg_scale"], payload["sampler_name"]) == (33, 6.0, "DPM++ 2M")
    assert (payload["width"], payload["height"]) == (w, h)
    assert (payload["prompt"], payload["negative_prompt"]) == ("a cat", "blurry")

    await e.draw(prompt="a cat", preset="wide", steps=10, width=512, height=512)  # the options given win
    payload = await drawn(e, 3)
    assert (payload["steps"], payload["width"], payload["height"], payload["cfg_scale"]) == (10, 512, 512, 6.0)

    inter = await e.discord.invoke(
        "preset", {"name": "wide"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL, subcommand="use"
    )
    await inter.wait_response(5)
    assert "Queued" in inter.response["data"]["content"]
    payload = await drawn(e, 4)
    assert (payload["prompt"], payload["steps"]) == ("a red fox", 33)  # no prompt given: the preset's

    shown = await run(e, "show", name="wide")
    assert "**wide**" in shown and "`steps`: 33" in shown
    listed = await run(e, "list")
    assert "(1 of 2)" in listed and "**wide**" in listed
    choices = await e.discord.autocomplete(
        "draw", {"prompt": "x", "preset": "wi"}, "preset", user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
    )
    assert [c["value"] for c in choices] == ["wide"]
    assert "Deleted the preset `wide`" in await run(e, "delete", name="wide")
    assert "no preset wide" in await draw_refused(e, preset="wide")


async def test_the_default_preset_applies_to_every_draw(e: Easel) -> None:
    await e.draw(prompt="first", steps=33)
    await drawn(e, 1)
    await run(e, "save", name="slow")
    assert "`slow` is your default preset now" in await run(e, "default", name="slow")
    await e.draw(prompt="second")
    assert (await drawn(e, 2))["steps"] == 33
    await e.draw(prompt="third", preset="none")  # not even the default
    assert (await drawn(e, 3))["steps"] == 25
    await e.draw(user=BOB, prompt="bob's")  # Alice's default is hers
    assert (await drawn(e, 4))["steps"] == 25
    assert "no default preset" in await run(e, "default")
    await e.draw(prompt="fourth")
    assert (await drawn(e, 5))["steps"] == 25


async def test_someone_elses_preset_is_refused(e: Easel) -> None:
    assert e.bot is not None
    await e.draw(prompt="mine", steps=40)
    await drawn(e, 1)
    await run(e, "save", name="secret")
    preset = await e.bot.store.get_preset("user", ALICE, "secret")
    assert preset is not None
    assert "someone else's" in await draw_refused(e, user=BOB, preset=f"#{preset.id}")
    assert "no preset secret" in await draw_refused(e, user=BOB, preset="secret")
    assert "someone else's" in await run(e, "delete", as_user=BOB, name=f"#{preset.id}")
    assert "someone else's" in await run(e, "default", as_user=BOB, name=f"#{preset.id}")
    assert await e.bot.store.get_preset("user", ALICE, "secret") is not None
    # and Bob can't save a preset from Alice's job
    job = (await e.bot.store.recent_jobs(ALICE, limit=1))[0]
    assert "no job" in await run(e, "save", as_user=BOB, name="stolen", **{"from": job.id})


async def test_a_preset_whose_model_is_gone_is_refused_with_the_reason(e: Easel) -> None:
    assert e.bot is not None
    await e.bot.store.save_preset("user", ALICE, "old", {"model": "retired_model", "steps": 20}, by=ALICE)
    text = await draw_refused(e, preset="old")
    assert "uses the model retired_model, which no image server has any more" in text
    assert await e.bot.store.get_preset("user", ALICE, "old") is not None  # not silently changed
    await e.bot.store.set_default_preset(ALICE, (await e.bot.store.get_preset("user", ALICE, "old")).id)  # type: ignore[union-attr]
    assert "retired_model" in await draw_refused(e, prompt="with the default")


async def test_server_presets_for_every_member(e: Easel) -> None:
    await e.draw(user=ADMIN, prompt="a photo", steps=44, cfg_scale=4)
    await drawn(e, 1)
    assert "Manage Server permission" in await run(e, "save", name="photo", server=True)
    assert "Saved the server preset `server:photo`" in await run(e, "save", as_user=ADMIN, name="photo", server=True)
    await e.draw(prompt="a cat", preset="photo")
    payload = await drawn(e, 2)
    assert (payload["steps"], payload["cfg_scale"]) == (44, 4.0)
    assert "Only the server's admins" in await run(e, "delete", name="server:photo")
    assert "photo" in await run(e, "list")
    assert "Deleted the preset `server:photo`" in await run(e, "delete", as_user=ADMIN, name="server:photo")


async def test_the_cap_per_member(e: Easel) -> None:
    await e.draw(prompt="one", steps=30)
    await drawn(e, 1)
    assert "Saved" in await run(e, "save", name="a")
    assert "Saved" in await run(e, "save", name="b")
    assert "You can keep 2 presets" in await run(e, "save", name="c")
    assert "Saved" in await run(e, "save", name="A")  # the same name (any case) is replaced
    assert "A preset name is 1 to 32 letters" in await run(e, "save", name="bad/name")


async def test_save_as_preset_under_a_results_info(e: Easel) -> None:
    await e.draw(prompt="a harbour", steps=37, cfg_scale=8)
    result = await e.result_for(ALICE)
    info_button = next(c for c in result.all_custom_ids() if c.startswith("easel:info:"))
    info = await e.discord.click(result, info_button, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
    await info.wait_response(5)
    assert info.original is not None
    save = next(c for c in info.original.all_custom_ids() if c.startswith("easel:savepreset:"))

    refused = await e.discord.click(info.original, save, user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
    await refused.wait_response(5)
    assert "your own results only" in refused.response["data"]["content"]

    form = await e.discord.click(info.original, save, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
    await form.wait_response(5)
    assert form.response_type == 9  # a modal asking the name
    sub = await e.discord.submit_modal(
        form, form.response["data"]["custom_id"], {"name": "harbour"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
    )
    await sub.wait_response(5)
    assert "Saved your preset `harbour`" in sub.response["data"]["content"]
    await e.draw(prompt="a boat", preset="harbour")
    payload = await drawn(e, 2)
    assert (payload["steps"], payload["cfg_scale"], payload["prompt"]) == (37, 8.0, "a boat")


async def test_presets_in_a_dm(tmp_path: Path) -> None:
    async with running_easel(tmp_path, discord={"guild_ids": []}) as e:  # global commands reach DMs
        dm = 555555555555555555
        e.discord.add_channel(None, dm, recipient_id=ALICE, type=1)
        assert e.bot is not None
        await e.bot.store.save_preset("user", ALICE, "mine", {"steps": 41}, by=ALICE)
        inter = await e.discord.invoke(
            "preset",
            {"name": "mine", "prompt": "in private"},
            user_id=ALICE,
            guild_id=None,
            channel_id=dm,
            subcommand="use",
        )
        await inter.wait_response(5)
        assert "Queued" in inter.response["data"]["content"]
        assert (await drawn(e, 1))["steps"] == 41
        saved = await e.discord.invoke(
            "preset", {"name": "x", "server": True}, user_id=ALICE, guild_id=None, channel_id=dm, subcommand="save"
        )
        await saved.wait_response(5)
        assert "works in a server only" in saved.response["data"]["content"]
