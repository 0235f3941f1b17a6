"""/draw end to end: a user on the fake Discord, the real bot, the fake webui."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogs.utils import attachments
from easel.infotext import png_parameters
from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, png, running_easel
from tests.fakes.discord_fake import FakeAttachment, FakeMessage


async def test_draw_queues_at_once_and_posts_images_with_infotext(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        inter = await e.draw(prompt="a red fox @everyone <@&1> **bold**", seed=1234, steps=20, count=2)
        assert inter.response_type == 4 and inter.ephemeral
        assert "#1" in inter.response["data"]["content"]
        assert inter.response_latency is not None and inter.response_latency < 3.0

        result = await e.result_for(ALICE)
        assert not result.ephemeral
        assert result.mentions_resolved == {ALICE} and not result.pings_everyone and not result.pings_roles
        assert len(result.attachments) == 2
        generated = e.webui.results[-1]
        assert [f.data for f in result.attachments] == generated[-2:]  # byte for byte
        info = png_parameters(result.attachments[0].data)
        assert info is not None and "Seed: 1234" in info and "Steps: 20" in info
        assert "Seeds: 1234, 1235" in result.content and "Steps: 20" in result.content
        assert "\\@everyone" in result.content and "\\*\\*bold\\*\\*" in result.content
        assert e.webui.generations[-1]["seed"] == 1234
        assert e.webui.options_posts == []
        # the ephemeral reply follows the job to the end
        await e.wait_reply(inter, lambda text: "Done" in text)
        assert e.discord.validation_errors == []


async def test_bad_options_are_refused_and_nothing_is_queued(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        cases = {
            "width": ({"width": 500}, "multiple of 8"),
            "model": ({"model": "nope"}, "Unknown model"),
        }
        for options, needle in cases.values():
            inter = await e.draw(**options)
            assert inter.ephemeral
            assert needle in inter.response["data"]["content"]
        bad_file = FakeAttachment("notes.txt", b"hello", content_type="text/plain")
        inter = await e.draw(init_image=bad_file)
        assert "PNG, JPEG or WebP" in inter.response["data"]["content"]
        broken = FakeAttachment("broken.png", b"\x89PNG\r\n\x1a\nnot really", content_type="image/png")
        inter = await e.draw(init_image=broken)
        text = await e.wait_reply(inter, lambda t: "init image" in t)
        assert "could not be read" in text or "damaged" in text
        assert e.bot is not None and e.bot.queue.queued_jobs() == [] and e.webui.generations == []


async def test_img2img_with_an_attachment(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        init = FakeAttachment("photo.png", png(96, 64), content_type="image/png")
        inter = await e.draw(prompt="as a painting", init_image=init, strength=0.4)
        assert inter.deferred
        await e.wait_reply(inter, lambda t: "Queued" in t or "Drawing" in t or "Done" in t)
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["denoising_strength"] == 0.4
        assert payload["init_images"] and payload["width"] % 8 == 0
        assert abs(payload["width"] / payload["height"] - 1.5) < 0.1
        assert "img2img" in result.content
        assert e.discord.attachment_downloads == [init.id]


async def test_webui_error_tells_the_requester_with_an_error_id(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.fail_next("txt2img", 422, {"detail": [{"loc": ["body", "steps"], "msg": "bad", "type": "x"}]})
        inter = await e.draw(prompt="will fail")
        text = await e.wait_reply(inter, lambda t: "failed" in t)
        assert "error id" in text
        # the queue goes on with the next job
        await e.draw(user=BOB, prompt="works")
        await e.result_for(BOB)


async def test_autocomplete_answers_from_the_catalog(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        choices = await e.discord.autocomplete(
            "draw", {"prompt": "x", "model": "sd"}, "model", user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        assert [c["value"] for c in choices] == ["sdxl_base"]
        samplers = await e.discord.autocomplete(
            "draw", {"prompt": "x", "sampler": "dpm++ 2m"}, "sampler", user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        assert samplers and all("DPM++ 2M" in c["name"] for c in samplers)
        assert len(samplers) <= 25


async def test_per_user_queue_limit(tmp_path: Path) -> None:
    async with running_easel(tmp_path, limits={"max_queued_per_user": 1}) as e:
        e.webui.hold()
        await e.draw(prompt="first")
        second = await e.draw(prompt="second")
        assert "limit 1" in second.response["data"]["content"]
        other = await e.draw(user=BOB, prompt="bob's")
        assert "#" in other.response["data"]["content"]
        e.webui.release()
        await e.result_for(ALICE)
        await e.result_for(BOB)
        assert [m for m in e.discord.channel_messages(CHANNEL) if m.attachments and "second" in m.content] == []


async def test_draw_in_a_dm_is_answered_through_the_interaction(tmp_path: Path) -> None:
    async with running_easel(tmp_path, discord={"guild_ids": []}) as e:  # global commands reach DMs
        dm = 555555555555555555
        e.discord.add_channel(None, dm, recipient_id=ALICE, type=1)
        inter = await e.discord.invoke("draw", {"prompt": "a quiet dm"}, user_id=ALICE, guild_id=None, channel_id=dm)
        await inter.wait_response(5)
        assert "Queued" in inter.response["data"]["content"]
        await e.discord.wait_until(lambda: bool(inter.followups) and bool(inter.followups[0].attachments), timeout=10)
        result = inter.followups[0]
        assert not result.ephemeral and result.mentions_resolved == {ALICE}
        assert png_parameters(result.attachments[0].data) is not None


async def test_hires_fix_sends_the_configured_upscaler(tmp_path: Path) -> None:
    async with running_easel(tmp_path, hires={"upscaler": "Latent", "scale": 1.5, "denoising_strength": 0.45}) as e:
        await e.draw(prompt="detailed", hires_fix=True, width=512, height=512)
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["enable_hr"] is True and payload["hr_scale"] == 1.5 and payload["hr_upscaler"] == "Latent"
        assert payload["denoising_strength"] == 0.45
        assert "hires fix" in result.content


async def test_webui_down_at_first_keeps_the_job_and_says_so(tmp_path: Path) -> None:
    async with running_easel(tmp_path, start=False) as e:
        await e.webui.down()
        bot = await e.start_bot(wait_backends=False)
        inter = await e.draw(prompt="patience")
        assert "not answering" in inter.response["data"]["content"]
        await e.webui.up()
        await e.result_for(ALICE, timeout=20)
        assert bot.queue.backends["gpu0"].up


async def test_oversized_attachment_refused_before_download(tmp_path: Path) -> None:
    async with running_easel(tmp_path, limits={"max_init_image_bytes": 100_000}) as e:
        big = FakeAttachment("big.png", png(600, 600, (1, 2, 3)) + b"\0" * 200_000, content_type="image/png")
        inter = await e.draw(init_image=big)
        assert inter.response_type == 4 and "the limit is" in inter.response["data"]["content"]
        assert e.discord.attachment_downloads == [] and e.webui.generations == []


async def test_a_hanging_attachment_download_is_refused_with_an_error_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "DOWNLOAD_TIMEOUT", 0.3)  # Easel's own bound, not a library's
    async with running_easel(tmp_path) as e:
        e.discord.cdn_open.clear()
        try:
            inter = await e.draw(init_image=FakeAttachment("cat.png", png(64, 64, (1, 2, 3)), content_type="image/png"))
            text = await e.wait_reply(inter, lambda t: "download" in t)
        finally:
            e.discord.cdn_open.set()
        assert "Couldn't download the init image; try again (error id `" in text
        assert e.bot is not None and e.bot.queue.queued_jobs() == [] and e.webui.generations == []


async def test_rate_limited_post_is_retried_and_posted_once(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.fail_next("POST", r"^/channels/\d+/messages$", 429, times=2)
        await e.draw(prompt="patient")
        await e.result_for(ALICE)
        posts = [r for r in e.discord.requests if r.method == "POST" and r.path == f"/channels/{CHANNEL}/messages"]
        assert [r.status for r in posts] == [429, 429, 200]
        assert len([m for m in e.discord.channel_messages(CHANNEL) if m.attachments]) == 1


async def test_no_permission_in_the_channel_falls_back_to_the_interaction(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.fail_next("POST", r"^/channels/\d+/messages$", 403, {"code": 50013, "message": "Missing Permissions"})
        inter = await e.draw(prompt="somewhere else")
        await e.discord.wait_until(lambda: any(m.attachments for m in inter.followups), timeout=10)
        result = next(m for m in inter.followups if m.attachments)
        assert not result.ephemeral and result.mentions_resolved == {ALICE}


async def test_discord_side_ranges_follow_the_config(tmp_path: Path) -> None:
    # Discord itself refuses out-of-range values (the fake does too); the bot's own check covers server limits.
    async with running_easel(tmp_path, limits={"max_steps": 40, "max_count": 3, "max_width": 768}) as e:
        (draw,) = [c for c in e.discord.registered_commands(GUILD) if c["name"] == "draw"]
        options = {o["name"]: o for o in draw["options"]}
        assert options["steps"]["max_value"] == 40 and options["count"]["max_value"] == 3
        assert options["width"]["max_value"] == 768 and options["height"]["max_value"] == 1024
        assert options["prompt"]["max_length"] == 1500
        assert options["negative_prompt"]["max_length"] == 1500
        assert options["cfg_scale"]["min_value"] == 1 and options["cfg_scale"]["max_value"] == 30


async def test_clip_skip_reaches_the_webui_the_image_and_the_buttons(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        inter = await e.draw(prompt="an anime fox", clip_skip=2, seed=99)
        assert "Queued" in inter.response["data"]["content"] or "#1" in inter.response["data"]["content"]
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["override_settings"]["CLIP_stop_at_last_layers"] == 2  # A1111's per-job setting
        assert "clip_skip" not in payload
        assert e.webui.validation_errors == []  # the payload is valid for the A1111 OpenAPI schema
        assert "Clip skip: 2" in (png_parameters(result.attachments[0].data) or "")

        # Info's /draw line reproduces it; Reroll keeps it
        info = await e.discord.click(result, _button(result, "info"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await info.wait_response(5)
        assert "clip_skip:2" in info.response["data"]["embeds"][0]["description"]
        reroll = await e.discord.click(
            result, _button(result, "reroll"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        await reroll.wait_response(5)
        await e.discord.wait_until(lambda: len(e.webui.generations) >= 2, timeout=15)
        assert e.webui.generations[-1]["override_settings"]["CLIP_stop_at_last_layers"] == 2

        # Not given: the webui's own setting (nothing sent); out of range: Discord's own form refuses it
        await e.draw(user=BOB, prompt="a plain fox")
        await e.result_for(BOB)
        assert "CLIP_stop_at_last_layers" not in e.webui.generations[-1].get("override_settings", {})
        with pytest.raises(ValueError, match=r"clip_skip.*above max_value 12"):
            await e.draw(prompt="too far", clip_skip=13)
        assert e.discord.validation_errors == []


async def test_clip_skip_goes_where_each_webui_reads_it(tmp_path: Path) -> None:
    """SD.Next reads clip_skip from the request itself; A1111 and Forge from override_settings. Easel tells them
    apart when a backend comes up."""
    async with running_easel(tmp_path, flavor="sdnext") as e:
        await e.draw(prompt="an anime fox", clip_skip=3)
        await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["clip_skip"] == 3
        assert "CLIP_stop_at_last_layers" not in payload.get("override_settings", {})
    async with running_easel(tmp_path / "forge", flavor="forge") as e:
        await e.draw(prompt="an anime fox", clip_skip=3)
        await e.result_for(ALICE)
        assert e.webui.generations[-1]["override_settings"]["CLIP_stop_at_last_layers"] == 3


async def test_aspect_sets_the_size_the_summary_shows_it_and_reroll_keeps_it(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        (draw,) = [c for c in e.discord.registered_commands(GUILD) if c["name"] == "draw"]
        (aspect,) = [o for o in draw["options"] if o["name"] == "aspect"]
        assert [c["value"] for c in aspect["choices"]] == [
            "default", "1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9"
        ]  # fmt: skip
        assert len(draw["options"]) <= 25

        await e.draw(prompt="a wide valley", aspect="16:9", seed=7)
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert (payload["width"], payload["height"]) == (680, 384)  # a 512x512 budget
        assert "aspect" not in payload
        assert e.webui.validation_errors == []
        assert "Size: 680x384 (16:9)" in result.content
        assert "Size: 680x384" in (png_parameters(result.attachments[0].data) or "")

        info = await e.discord.click(result, _button(result, "info"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await info.wait_response(5)
        assert "width:680 height:384 aspect:16:9" in info.response["data"]["embeds"][0]["description"]
        reroll = await e.discord.click(
            result, _button(result, "reroll"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        await reroll.wait_response(5)
        rerolled = await e.discord.wait_for_message(
            lambda m: m.channel_id == CHANNEL and bool(m.attachments) and m.id != result.id, timeout=15
        )
        assert (e.webui.generations[-1]["width"], e.webui.generations[-1]["height"]) == (680, 384)
        assert "Size: 680x384 (16:9)" in rerolled.content

        # explicit width wins and the height follows the ratio; both given: they win
        await e.draw(user=BOB, prompt="a tall tower", aspect="9:16", width=576)
        await e.result_for(BOB)
        assert (e.webui.generations[-1]["width"], e.webui.generations[-1]["height"]) == (576, 1024)
        await e.draw(user=BOB, prompt="a plain square", aspect="16:9", width=512, height=512)
        square = await e.discord.wait_for_message(
            lambda m: bool(m.attachments) and m.content.startswith(f"<@{BOB}>") and "plain square" in m.content,
            timeout=15,
        )
        assert (e.webui.generations[-1]["width"], e.webui.generations[-1]["height"]) == (512, 512)
        assert "Size: 512x512 · Model:" in square.content  # no ratio claimed: it is not 16:9
        assert e.discord.validation_errors == []


async def test_an_aspect_that_cannot_fit_is_refused_privately_and_nothing_is_queued(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        inter = await e.draw(prompt="a very wide band", aspect="21:9", height=1024)
        text = inter.response["data"]["content"]
        assert inter.ephemeral and "\n" not in text
        assert text.startswith("aspect 21:9 with height 1024 doesn't fit the limits here")
        assert e.bot is not None and e.bot.queue.queued_jobs() == [] and e.webui.generations == []
        with pytest.raises(ValueError, match="not one of the choices"):  # Discord's own form offers only the ratios
            await e.draw(prompt="x", aspect="5:4")


async def test_a_server_default_aspect_applies_to_draw(tmp_path: Path) -> None:
    async with running_easel(tmp_path, defaults={"aspect": "3:2"}) as e:
        await e.draw(prompt="a landscape")
        result = await e.result_for(ALICE)
        assert (e.webui.generations[-1]["width"], e.webui.generations[-1]["height"]) == (624, 416)
        assert "(3:2)" in result.content


def _button(message: FakeMessage, action: str) -> str:
    wanted = [c for c in message.all_custom_ids() if c.startswith(f"easel:{action}:")]
    assert wanted, f"no {action} button in {message.all_custom_ids()}"
    return wanted[0]
