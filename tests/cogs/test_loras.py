"""LoRAs and face fix end to end: /draw lora: and face_fix: through the Discord fake, the real bot and webui fakes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord

from easel.infotext import png_parameters
from tests.cogs.harness import ALICE, BOB, CHANNEL, E2E, GUILD, MOD, Easel, make_discord
from tests.fakes.discord_fake import FakeMessage
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import make_config

ADMIN = 333333333333333338
FREQ = json.dumps({"10_detail": {"detailed": 30, "sharp": 4}})  # add_detail's activation text: "detailed"


@contextlib.asynccontextmanager
async def easel_with(tmp_path: Path, *webuis: FakeWebui, **sections: Any) -> AsyncIterator[Easel]:
    """The real bot against these webui fakes (named gpu0, gpu1, ...) and a fresh Discord fake."""
    old_base = discord.http.Route.BASE
    fake = make_discord()
    for w in webuis:
        await w.start()
    await fake.start()
    cfg = make_config([w.url for w in webuis], tmp_path / "easel.db", preset=E2E, **sections)
    easel = Easel(fake, webuis[0], cfg)
    try:
        await easel.start_bot()
        yield easel
        assert fake.validation_errors == [], fake.validation_errors
        for w in webuis:
            assert w.validation_errors == [], w.validation_errors
    finally:
        await easel.stop_bot()
        await fake.stop()
        for w in webuis:
            await w.stop()
        discord.http.Route.BASE = old_base


def loras_webui(**kw: Any) -> FakeWebui:
    kw.setdefault("loras", ["add_detail", "pixel_art_v2", "lcm-lora-sdv1-5"])
    return FakeWebui(lora_metadata={"add_detail": {"ss_tag_frequency": FREQ}}, **kw)


def _button(message: FakeMessage, action: str) -> str:
    wanted = [c for c in message.all_custom_ids() if c.startswith(f"easel:{action}:")]
    assert wanted, f"no {action} button in {message.all_custom_ids()}"
    return wanted[0]


async def _click(e: Easel, message: FakeMessage, custom_id: str, user: int = ALICE) -> Any:
    inter = await e.discord.click(message, custom_id, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


async def test_the_form_has_lora_with_autocomplete_and_face_fix_choices(tmp_path: Path) -> None:
    async with easel_with(tmp_path, loras_webui()) as e:
        (draw,) = [c for c in e.discord.registered_commands(GUILD) if c["name"] == "draw"]
        options = {o["name"]: o for o in draw["options"]}
        assert len(options) <= 25
        assert options["lora"]["type"] == 3 and options["lora"]["autocomplete"] is True
        assert [c["value"] for c in options["face_fix"]["choices"]] == [
            "off",
            "on",
            "adetailer",
            "codeformer",
            "gfpgan",
        ]

        async def complete(typed: str) -> list[dict]:
            return await e.discord.autocomplete(
                "draw", {"prompt": "x", "lora": typed}, "lora", user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
            )

        first = await complete("add")
        assert first == [{"name": "add_detail — detailed", "value": "add_detail"}]  # with its activation text
        assert [c["value"] for c in await complete("add_detail:0.5, pix")] == ["add_detail:0.5, pixel_art_v2"]
        assert [c["value"] for c in await complete("add_detail:0.5, pix:1.2")] == ["add_detail:0.5, pixel_art_v2:1.2"]
        assert await complete("nothing like it") == []


async def test_a_lora_draw_sends_the_tag_and_the_trigger_once_and_the_buttons_keep_it(tmp_path: Path) -> None:
    async with easel_with(tmp_path, loras_webui()) as e:
        await e.draw(prompt="a fox in the snow", lora="Add_Detail:0.5", seed=3)
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["prompt"] == "a fox in the snow, detailed <lora:add_detail:0.5>"
        infotext = png_parameters(result.attachments[0].data) or ""
        assert "<lora:add_detail:0.5>" in infotext and "Lora hashes:" in infotext

        info = await _click(e, result, _button(result, "info"))
        assert "lora:add_detail:0.5" in info.response["data"]["embeds"][0]["description"]

        await _click(e, result, _button(result, "reroll"))
        await e.discord.wait_until(lambda: len(e.webui.generations) >= 2, timeout=15)
        assert e.webui.generations[-1]["prompt"] == "a fox in the snow, detailed <lora:add_detail:0.5>"

        # Draw this again from the image's infotext: the tag comes back as the LoRA, the trigger is not doubled
        menu = await e.discord.context_menu("Image info", result, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await menu.wait_response(5)
        again = next(c["custom_id"] for c in menu.response["data"]["components"][0]["components"])
        assert again.startswith("easel:again:")
        await _click(e, menu.original, again)
        await e.discord.wait_until(lambda: len(e.webui.generations) >= 3, timeout=15)
        assert e.webui.generations[-1]["prompt"] == "a fox in the snow, detailed <lora:add_detail:0.5>"

        # a typed tag is a LoRA too, at [defaults] lora_weight when it has no weight
        await e.draw(user=BOB, prompt="a detailed owl <lora:pixel_art_v2>")
        await e.discord.wait_until(lambda: len(e.webui.generations) >= 4, timeout=15)
        assert e.webui.generations[-1]["prompt"] == "a detailed owl <lora:pixel_art_v2:0.8>"


async def test_bad_loras_are_refused_privately_and_nothing_is_queued(tmp_path: Path) -> None:
    async with easel_with(tmp_path, loras_webui(), limits={"max_loras": 2}) as e:
        assert e.bot is not None
        if "cogs.settings" not in e.bot.extensions:
            await e.bot.load_extension("cogs.settings")
            await e.bot.sync_commands()
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=1 << 5)  # Manage Server
        told = await e.discord.invoke(
            "settings",
            {"key": "lora_block", "value": "pixel_art_v2"},
            user_id=ADMIN,
            guild_id=GUILD,
            channel_id=CHANNEL,
            subcommand="set",
        )
        assert "lora_block" in (await told.wait_response(5))["data"]["content"]
        cases = [
            ({"lora": "add_detial"}, "No image server has the LoRA add_detial; close names: add_detail."),
            ({"lora": "add_detail:2.5"}, "The weight of LoRA add_detail must be between -2 and 2 (got 2.5)."),
            (
                {"lora": "add_detail, pixel_art_v2, lcm-lora-sdv1-5"},
                "This server allows at most 2 LoRA(s) per request (you asked for 3).",
            ),
            ({"lora": "pixel_art_v2"}, "The LoRA pixel_art_v2 isn't allowed on this server."),
            ({"prompt": "a cat <lora:pixel_art_v2:0.3>"}, "The LoRA pixel_art_v2 isn't allowed on this server."),
            ({"face_fix": "adetailer"}, "No image server here can fix faces with adetailer"),
        ]
        for options, needle in cases:
            inter = await e.draw(**options)
            content = inter.response["data"]["content"]
            assert inter.ephemeral and needle in content and "\n" not in content, (options, content)
        assert e.bot.queue.queued_jobs() == [] and e.webui.generations == []
        await e.bot.policy.set_text(GUILD, "lora_allow", "add_detail", by=MOD)
        await e.bot.policy.reset(GUILD, "lora_block", by=MOD)
        inter = await e.draw(lora="pixel_art_v2")
        assert "The LoRA pixel_art_v2 isn't allowed on this server." in inter.response["data"]["content"]
        await e.draw(lora="add_detail")
        await e.result_for(ALICE)
        assert "<lora:add_detail:0.8>" in e.webui.generations[-1]["prompt"]


async def test_a_lora_job_runs_on_the_backend_that_has_it(tmp_path: Path) -> None:
    plain = FakeWebui(loras=["add_detail"])
    pixel = FakeWebui(loras=["pixel_art_v2"])
    async with easel_with(tmp_path, plain, pixel) as e:
        for i in range(3):
            await e.draw(prompt=f"pixel fox {i}", lora="pixel_art_v2:1")
        await e.discord.wait_until(lambda: pixel.completed_count >= 3, timeout=15)
        prompts = sorted(g["prompt"] for g in pixel.generations)
        assert prompts == [f"pixel fox {i} <lora:pixel_art_v2:1>" for i in range(3)]
        assert plain.generations == []  # idle all along, but it hasn't the LoRA
        await e.draw(user=BOB, prompt="detail fox", lora="add_detail")
        await e.result_for(BOB)
        assert plain.generations[-1]["prompt"] == "detail fox <lora:add_detail:0.8>"


async def test_face_fix_uses_adetailer_where_there_is_one(tmp_path: Path) -> None:
    async with easel_with(tmp_path, FakeWebui(adetailer=True)) as e:
        await e.draw(prompt="a portrait", face_fix="on", seed=5)
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["alwayson_scripts"] == {"ADetailer": {"args": [{"ad_model": "face_yolov8n.pt"}]}}
        assert "restore_faces" not in payload
        assert e.webui.face_fixes == [("adetailer", "face_yolov8n.pt")]
        assert "ADetailer model: face_yolov8n.pt" in (png_parameters(result.attachments[0].data) or "")
        info = await _click(e, result, _button(result, "info"))
        assert "face_fix:on" in info.response["data"]["embeds"][0]["description"]
        await _click(e, result, _button(result, "reroll"))
        await e.discord.wait_until(lambda: len(e.webui.face_fixes) >= 2, timeout=15)
        assert e.webui.face_fixes[-1] == ("adetailer", "face_yolov8n.pt")


async def test_face_fix_on_forge_writes_the_flags_adetailer_needs_there(tmp_path: Path) -> None:
    async with easel_with(tmp_path, FakeWebui(adetailer=True, flavor="forge")) as e:
        await e.draw(prompt="a portrait", face_fix="adetailer")
        result = await e.result_for(ALICE)
        args = e.webui.generations[-1]["alwayson_scripts"]["ADetailer"]["args"]
        assert args == [True, False, {"ad_model": "face_yolov8n.pt"}]
        assert e.webui.face_fixes == [("adetailer", "face_yolov8n.pt")]
        assert "ADetailer model: face_yolov8n.pt" in (png_parameters(result.attachments[0].data) or "")


async def test_face_fix_without_adetailer_uses_the_webuis_restoration(tmp_path: Path) -> None:
    async with easel_with(tmp_path, FakeWebui(), defaults={"face_fix": "gfpgan"}) as e:
        await e.draw(prompt="a portrait")
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["restore_faces"] is True and "alwayson_scripts" not in payload
        assert payload["override_settings"]["face_restoration_model"] == "GFPGAN"
        assert "Face restoration: GFPGAN" in (png_parameters(result.attachments[0].data) or "")
        await e.draw(user=BOB, prompt="no fix", face_fix="off")
        await e.result_for(BOB)
        assert "restore_faces" not in e.webui.generations[-1]


async def test_face_fix_jobs_go_to_a_backend_that_can(tmp_path: Path) -> None:
    plain = FakeWebui(face_restorers=())
    detailer = FakeWebui(adetailer=True)
    async with easel_with(tmp_path, plain, detailer) as e:
        for i in range(2):
            await e.draw(prompt=f"a face {i}", face_fix="on")
        await e.discord.wait_until(lambda: detailer.completed_count >= 2, timeout=15)
        assert len(detailer.generations) == 2 and plain.generations == []
        assert detailer.face_fixes == [("adetailer", "face_yolov8n.pt")] * 2


async def test_trigger_words_face_the_content_rules_like_the_prompt(tmp_path: Path) -> None:
    """A LoRA's activation text joins the prompt after the user typed it: the server's banned words and the rule no
    setting turns off see it too."""
    from easel.safety.prompts import REFUSED_MINORS_SEXUAL

    meta = {"spicy": {"activation text": "nude"}, "badword": {"activation text": "forbidden"}}
    webui = FakeWebui(loras=["spicy", "badword", "add_detail"], lora_metadata=meta)
    async with easel_with(tmp_path, webui, loras={"add_detail": {"trigger": "forbidden too"}}) as e:
        assert e.bot is not None
        await e.bot.policy.set_text(GUILD, "banned_words", "forbidden", by=MOD)
        inter = await e.draw(prompt="a toddler at the beach", lora="spicy")
        assert REFUSED_MINORS_SEXUAL in inter.response["data"]["content"]
        for lora in ("badword", "add_detail"):
            inter = await e.draw(prompt="a quiet lake", lora=lora)
            assert "contains a word this server doesn't allow" in inter.response["data"]["content"]
        assert e.bot.queue.queued_jobs() == [] and webui.generations == []
        await e.draw(prompt="a quiet lake", lora="spicy")
        await e.result_for(ALICE)
        assert webui.generations[-1]["prompt"] == "a quiet lake, nude <lora:spicy:0.8>"


async def test_models_lists_the_embeddings_and_loras_with_their_backends(tmp_path: Path) -> None:
    one = FakeWebui(loras=["add_detail"], embeddings=["EasyNegative", "bad_hands_5"])
    two = FakeWebui(loras=["add_detail", "pixel_art_v2"], embeddings=["EasyNegative"])
    async with easel_with(tmp_path, one, two) as e:
        inter = await e.discord.invoke("models", None, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        text = str((await inter.wait_response(5))["data"]["content"])
        assert inter.ephemeral
        assert (
            "**2 embedding(s)** (write the name in a prompt or negative prompt): bad\\_hands\\_5 (gpu0), EasyNegative"
            in text
        )
        assert "**2 LoRA(s)** (/draw's `lora` option; it autocompletes): add\\_detail, pixel\\_art\\_v2 (gpu1)" in text
