"""/settings and /mod end to end: permissions as Discord enforces them, values stored, autocomplete, clear-queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, MOD, NSFW_CHANNEL, Easel, png, running_easel
from tests.fakes.discord_fake import FakeAttachment

ADMIN = 333333333333333338
MANAGE_GUILD = 1 << 5


@pytest.fixture
async def e(tmp_path: Path) -> AsyncIterator[Easel]:
    async with running_easel(tmp_path) as easel:
        assert easel.bot is not None
        if "cogs.settings" not in easel.bot.extensions:  # until bot.py lists it in EXTENSIONS
            await easel.bot.load_extension("cogs.settings")
            await easel.bot.sync_commands()
        easel.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        yield easel


async def run(e: Easel, name: str, sub: str, as_user: int = ADMIN, **options: object) -> str:
    """Run ``/name sub`` in CHANNEL as ``as_user``; ``channel``/``user`` options are the command's own."""
    inter = await e.discord.invoke(
        name, options or None, user_id=as_user, guild_id=GUILD, channel_id=CHANNEL, subcommand=sub
    )
    response = await inter.wait_response(5)
    assert inter.ephemeral
    return str(response["data"]["content"])


async def test_admin_sets_shows_and_resets(e: Easel) -> None:
    assert e.bot is not None
    assert "`steps` is now `30` for this server" in await run(e, "settings", "set", key="steps", value="30")
    assert "for <#" in await run(e, "settings", "set", key="steps", value="12", channel=NSFW_CHANNEL)
    text = await run(e, "settings", "show")
    assert "`steps` `30` (server)" in text and "`max_steps` `50` (global)" in text
    assert "`steps` `12` (this channel)" in await run(e, "settings", "show", channel=NSFW_CHANNEL)
    assert await e.bot.store.get_settings("guild", GUILD) == {"steps": 30}

    assert "global ceiling 50" in await run(e, "settings", "set", key="max_steps", value="80")
    assert "Unknown model" in await run(e, "settings", "set", key="model", value="nope")
    assert "Reset `steps`" in await run(e, "settings", "reset", key="steps")
    assert "Nothing to reset" in await run(e, "settings", "reset", key="steps")
    assert await e.bot.store.get_settings("guild", GUILD) == {}


async def test_members_without_permission_cannot_see_or_use_settings(e: Easel) -> None:
    with pytest.raises(PermissionError, match="default_member_permissions"):
        await e.discord.invoke("settings", None, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL, subcommand="show")
    # /mod is visible to everyone because moderator roles are configured; the bot checks
    assert "Manage Messages permission or a moderator role" in await run(e, "mod", "pause", as_user=ALICE)


async def test_autocomplete_keys_and_catalog_values(e: Easel) -> None:
    keys = await e.discord.autocomplete(
        "settings", {"key": "max_"}, "key", user_id=ADMIN, guild_id=GUILD, channel_id=CHANNEL, subcommand="set"
    )
    assert "max_steps" in [c["value"] for c in keys]
    samplers = await e.discord.autocomplete(
        "settings",
        {"key": "sampler", "value": "euler"},
        "value",
        user_id=ADMIN,
        guild_id=GUILD,
        channel_id=CHANNEL,
        subcommand="set",
    )
    assert samplers and all("euler" in c["value"].lower() for c in samplers)
    nsfw = await e.discord.autocomplete(
        "settings",
        {"key": "nsfw", "value": ""},
        "value",
        user_id=ADMIN,
        guild_id=GUILD,
        channel_id=CHANNEL,
        subcommand="set",
    )
    assert [c["value"] for c in nsfw] == ["allow", "spoiler", "refuse"]


async def test_lists_channels_ban_words_and_blocks(e: Easel) -> None:
    assert e.bot is not None
    assert f"<#{NSFW_CHANNEL}>" in await run(e, "settings", "channels add", channel=NSFW_CHANNEL)
    assert f"<#{NSFW_CHANNEL}>" in await run(e, "settings", "channels list")
    assert "every channel again" in await run(e, "settings", "channels remove", channel=NSFW_CHANNEL)

    assert "bans 2" in await run(e, "settings", "ban-word add", words="Gore, hot dog")
    assert "`gore`, `hot dog`" in await run(e, "settings", "ban-word list")
    assert "very slow" in await run(e, "settings", "ban-word add", words="re:(a+)+")

    assert f"<@{BOB}> can no longer draw" in await run(e, "settings", "block", user=BOB)
    policy = e.bot.policy  # type: ignore[attr-defined]
    assert BOB in (await policy.for_draw(GUILD, CHANNEL)).blocked_users
    assert "can draw again" in await run(e, "settings", "unblock", user=BOB)


async def test_moderator_pauses_and_clears_the_queue(e: Easel) -> None:
    assert e.bot is not None
    assert "Paused" in await run(e, "mod", "pause", as_user=MOD)
    assert (await e.bot.store.get_settings("guild", GUILD)).get("paused") is True
    assert "Resumed" in await run(e, "mod", "resume", as_user=MOD)
    assert "paused" not in await e.bot.store.get_settings("guild", GUILD)

    e.webui.hold()
    await e.draw(prompt="running")
    await e.webui.wait_generation_started(1)
    await e.draw(prompt="waiting 1")
    await e.draw(user=BOB, prompt="waiting 2")
    assert "Cancelled 2 waiting job(s)" in await run(e, "mod", "clear-queue", as_user=MOD)
    assert e.bot.queue.queued_jobs() == []
    assert len(e.bot.queue.running_jobs()) == 1  # the running one finishes
    e.webui.release()
    await e.result_for(ALICE)


# ---- /draw under the server's rules ----------------------------------------------------------------------


async def _draw_text(e: Easel, **options: object) -> str:
    inter = await e.draw(**options)  # type: ignore[arg-type]
    return str(inter.response["data"]["content"])


async def test_draw_uses_server_defaults_and_limits(e: Easel) -> None:
    await run(e, "settings", "set", key="steps", value="12")
    await run(e, "settings", "set", key="max_count", value="1")
    assert "count must be between 1 and 1" in await _draw_text(e, count=2)
    await e.draw(prompt="a fox")
    await e.result_for(ALICE)
    assert e.webui.generations[-1]["steps"] == 12


async def test_draw_refused_by_server_rules_without_echo(e: Easel) -> None:
    await run(e, "settings", "ban-word add", words="fox")
    text = await _draw_text(e, prompt="a red FOX")
    assert text == "Your prompt contains a word this server doesn't allow."
    await run(e, "settings", "channels add", channel=NSFW_CHANNEL)
    assert f"try <#{NSFW_CHANNEL}>" in await _draw_text(e, prompt="a cat")
    await run(e, "settings", "channels remove", channel=NSFW_CHANNEL)
    await run(e, "mod", "pause", as_user=MOD)
    assert "paused on this server" in await _draw_text(e, prompt="a cat")
    await run(e, "mod", "resume", as_user=MOD)
    await run(e, "settings", "block", user=BOB)
    assert "can't use Easel" in await _draw_text(e, user=BOB, prompt="a cat")
    assert e.webui.generations == []


async def test_nsfw_spoiler_outside_age_restricted_channels(e: Easel) -> None:
    await run(e, "settings", "set", key="nsfw", value="spoiler")
    await e.draw(prompt="a cat")
    sfw = await e.result_for(ALICE)
    assert sfw.attachments and all(f.spoiler for f in sfw.attachments)
    await e.draw(user=BOB, channel=NSFW_CHANNEL, prompt="a cat")
    nsfw = await e.result_for(BOB, channel=NSFW_CHANNEL)
    assert nsfw.attachments and not any(f.spoiler for f in nsfw.attachments)


async def test_refuse_policy_and_img2img_only_in_age_restricted_channels(e: Easel) -> None:
    init = FakeAttachment("photo.png", png(64, 64), content_type="image/png")
    await run(e, "settings", "set", key="img2img", value="nsfw_only")
    assert "age-restricted" in await _draw_text(e, prompt="as a painting", init_image=init)
    inter = await e.draw(user=BOB, channel=NSFW_CHANNEL, prompt="as a painting", init_image=init)
    await e.wait_reply(inter, lambda t: "Queued" in t or "Drawing" in t or "Done" in t)
    await e.result_for(BOB, channel=NSFW_CHANNEL)
    await run(e, "settings", "set", key="nsfw", value="refuse")
    assert "age-restricted" in await _draw_text(e, prompt="a cat")
    assert len(e.webui.generations) == 1


async def test_lora_lists_complete_the_last_name_from_the_catalog(e: Easel) -> None:
    async def complete(key: str, typed: str) -> list[str]:
        choices = await e.discord.autocomplete(
            "settings",
            {"key": key, "value": typed},
            "value",
            user_id=ADMIN,
            guild_id=GUILD,
            channel_id=CHANNEL,
            subcommand="set",
        )
        return [c["value"] for c in choices]

    assert await complete("lora_allow", "") == ["add_detail", "lcm-lora-sdv1-5"]
    assert await complete("lora_allow", "LCM") == ["lcm-lora-sdv1-5"]
    assert await complete("lora_allow", "add_detail, ") == ["add_detail, lcm-lora-sdv1-5"]  # not listed twice
    assert await complete("lora_block", "add_detail:0.5, lcm:1") == ["add_detail, lcm-lora-sdv1-5"]  # names only
    assert await complete("lora_block", "nothing like it") == []
    chosen = (await complete("lora_block", "add_detail, lc"))[0]
    assert "`lora_block` is now 2 entries" in await run(e, "settings", "set", key="lora_block", value=chosen)
    assert e.bot is not None
    refused = await e.draw(lora="lcm-lora-sdv1-5")
    assert refused.ephemeral and "lcm-lora-sdv1-5 isn't allowed" in refused.response["data"]["content"]
    assert e.bot.queue.queued_jobs() == [] and e.webui.generations == []
