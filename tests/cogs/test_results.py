"""Result messages people can act on: buttons (also after a restart), per-image actions, Info, Delete, the Image
info context menu, uploads over the limit, and expired interaction tokens."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from easel.infotext import format_infotext, png_parameters
from easel.jobs import StoredImage
from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, MOD, Easel, running_easel
from tests.fakes.discord_fake import FakeAttachment, FakeInteraction, FakeMessage


async def click(e: Easel, message: FakeMessage, custom_id: str, user: int = ALICE) -> FakeInteraction:
    inter = await e.discord.click(message, custom_id, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


def button(message: FakeMessage, action: str, index: int = 0) -> str:
    wanted = [c for c in message.all_custom_ids() if c.startswith(f"easel:{action}:") and c.endswith(f":{index}")]
    assert wanted, f"no {action} button in {message.all_custom_ids()}"
    return wanted[0]


async def nth_result(e: Easel, user: int, n: int) -> FakeMessage:
    await e.discord.wait_until(
        lambda: (
            len([m for m in e.discord.channel_messages(CHANNEL) if m.attachments and f"<@{user}>" in m.content]) >= n
        ),
        timeout=15,
    )
    return [m for m in e.discord.channel_messages(CHANNEL) if m.attachments and f"<@{user}>" in m.content][n - 1]


async def test_single_image_buttons(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a lighthouse", seed=77, steps=12)
        first = await e.result_for(ALICE)
        assert {c.split(":")[1] for c in first.all_custom_ids() if not c.startswith("easel:tool:")} == {
            "reroll",
            "vary",
            "remix",
            "upscale",
            "info",
            "delete",
        }

        # Reroll: same settings, new seed
        inter = await click(e, first, button(first, "reroll"))
        assert inter.ephemeral and "Queued" in inter.response["data"]["content"]
        await nth_result(e, ALICE, 2)
        reroll = e.webui.generations[-1]
        assert reroll["prompt"] == "a lighthouse" and reroll["steps"] == 12 and reroll["seed"] == -1

        # Vary: same seed, a variation through subseed strength
        await click(e, first, button(first, "vary"))
        await nth_result(e, ALICE, 3)
        vary = e.webui.generations[-1]
        assert vary["seed"] == 77 and vary["subseed_strength"] == 0.3 and vary["subseed"] == -1

        # Remix: a modal with the prompts, the rest kept
        inter = await click(e, first, button(first, "remix"))
        assert inter.response_type == 9
        sub = await e.discord.submit_modal(
            inter,
            inter.response["data"]["custom_id"],
            {"prompt": "a lighthouse at night", "negative_prompt": "fog"},
            user_id=ALICE,
            guild_id=GUILD,
            channel_id=CHANNEL,
        )
        await sub.wait_response(5)
        await nth_result(e, ALICE, 4)
        remix = e.webui.generations[-1]
        assert (remix["prompt"], remix["negative_prompt"], remix["seed"], remix["steps"]) == (
            "a lighthouse at night",
            "fog",
            77,
            12,
        )

        # Upscale: the webui's extras upscaler on that image; the infotext survives
        await click(e, first, button(first, "upscale"))
        upscaled = await nth_result(e, ALICE, 5)
        assert upscaled.attachments[0].filename.startswith("upscaled-")
        with Image.open(io.BytesIO(upscaled.attachments[0].data)) as img:
            assert img.size == (1024, 1024)
        assert "Seed: 77" in (png_parameters(upscaled.attachments[0].data) or "")

        # Info: the full infotext and a /draw line that reproduces it, privately
        info = await click(e, first, button(first, "info"))
        assert info.ephemeral
        embed = info.response["data"]["embeds"][0]
        assert "Seed: 77" in embed["description"] and "/draw prompt:a lighthouse" in embed["description"]
        assert "seed:77" in embed["description"]

        # Someone else can't use them; Delete is the requester's or a moderator's
        refused = await click(e, first, button(first, "reroll"), user=BOB)
        assert "Only its requester" in refused.response["data"]["content"]
        refused = await click(e, first, button(first, "delete"), user=BOB)
        assert "moderator" in refused.response["data"]["content"]
        await click(e, first, button(first, "delete"), user=MOD)
        await e.discord.wait_until(lambda: first.deleted, timeout=5)
        assert e.discord.validation_errors == []


async def test_batch_has_per_image_actions(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="four cats", seed=10, count=4)
        result = await e.result_for(ALICE)
        ids = result.all_custom_ids()
        assert [button(result, "upscale", i) for i in range(4)] and [button(result, "vary", i) for i in range(4)]
        assert len(ids) == 4 + 8 + 4  # and a Zoom button per image (tests/cogs/test_tools.py)
        await click(e, result, button(result, "vary", 2))
        await nth_result(e, ALICE, 2)
        assert e.webui.generations[-1]["seed"] == 12  # image 3 of seeds 10..13
        await click(e, result, button(result, "upscale", 3))
        up = await nth_result(e, ALICE, 3)
        assert "Seed: 13" in (png_parameters(up.attachments[0].data) or "")


async def test_vary_on_an_image_whose_seed_passed_the_maximum(tmp_path: Path) -> None:
    """Image k of a batch has seed + k, which can pass the largest seed /draw takes: Vary still draws."""
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="two moons", seed=4294967294, count=2)
        result = await e.result_for(ALICE)
        vary = await click(e, result, button(result, "vary", 1))
        assert "Queued" in (vary.response["data"]["content"] or "")
        await nth_result(e, ALICE, 2)
        assert e.webui.generations[-1]["seed"] == 0  # 4294967295 wrapped around


async def test_buttons_work_after_a_restart(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="old result", seed=5)
        old = await e.result_for(ALICE)
        await e.stop_bot()
        await e.start_bot()
        info = await click(e, old, button(old, "info"))
        assert "Seed: 5" in info.response["data"]["embeds"][0]["description"]
        await click(e, old, button(old, "vary"))
        await nth_result(e, ALICE, 2)
        assert e.webui.generations[-1]["seed"] == 5


async def test_cancel_button_on_the_live_reply(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        inter = await e.draw(prompt="stop me")
        await e.webui.wait_generation_started(1)
        assert inter.original is not None
        cancel = button(inter.original, "cancel")
        refused = await click(e, inter.original, cancel, user=BOB)
        assert "moderator" in refused.response["data"]["content"]
        done = await click(e, inter.original, cancel)
        assert "Stopping job" in done.response["data"]["content"]
        assert e.webui.interrupts == 1
        await e.wait_reply(inter, lambda t: "cancelled" in t)
        e.webui.release()
        assert [m for m in e.discord.channel_messages(CHANNEL) if m.attachments] == []


def noisy_png(size: int, infotext: str) -> bytes:
    meta = PngInfo()
    meta.add_text("parameters", infotext)
    out = io.BytesIO()
    noise = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    noise.save(out, format="PNG", compress_level=1, pnginfo=meta)
    return out.getvalue()


def infotext_of(data: bytes) -> str | None:
    """The parameters text from a PNG chunk, or from the EXIF UserComment of a re-encoded WebP."""
    if data.startswith(b"\x89PNG"):
        return png_parameters(data)
    with Image.open(io.BytesIO(data)) as img:
        comment = img.getexif().get_ifd(0x8769).get(0x9286)
    return comment[8:].decode("utf-16-be") if comment else None


async def test_oversize_result_fits_the_upload_limit_with_info_intact(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        await e.draw(prompt="huge", count=3, seed=1)
        first = await e.result_for(ALICE)
        job = await e.bot.store.get_job(first.content.split("`")[1])
        assert job is not None
        images = await e.bot.store.load_result(job.id)
        # Deliver it again as if the webui had returned a 12 MB PNG and two 5.6 MB ones (23 MB > 10 MiB).
        sizes = (2000, 1400, 1400)
        huge = [
            StoredImage(i, noisy_png(sizes[i], images[i].infotext), images[i].infotext, images[i].seed)
            for i in range(3)
        ]
        assert len(huge[0].data) > 10 * 2**20
        job.id = "hugejob1"
        await e.bot.publisher.deliver(job, huge)
        posted = [m for m in e.discord.channel_messages(CHANNEL) if "hugejob1" in m.content and m.kind == "channel"]
        assert len(posted) >= 2 and all(sum(f.size for f in m.attachments) <= 10 * 2**20 for m in posted)
        assert sum(len(m.attachments) for m in posted) == 3
        assert not [r for r in e.discord.requests if r.status == 413]
        files = [f for m in posted for f in m.attachments]
        assert files[0].filename.endswith(".webp")  # re-encoded
        assert [f.data for f in files[1:]] == [im.data for im in huge[1:]]  # the others kept byte for byte
        for f, im in zip(files, huge, strict=True):
            assert infotext_of(f.data) == im.infotext
        assert posted[0].all_custom_ids()  # the buttons (Info) stay reachable on the first message


async def test_expired_token_result_still_reaches_the_user(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        inter = await e.draw(prompt="slow one")
        await e.webui.wait_generation_started(1)
        e.discord.expire_token(inter)
        e.webui.release()
        result = await e.result_for(ALICE)
        assert result.kind == "channel" and result.mentions_resolved == {ALICE}
        assert e.bot is not None
        async with asyncio.timeout(10):
            await e.bot.queue.wait_idle()
        token_calls = [r for r in e.discord.requests if inter.token in r.path and r.status == 401]
        assert len(token_calls) <= 1  # tried once, then the token is dropped: no retry loop


async def test_image_info_on_an_image_from_elsewhere(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        info = format_infotext(
            "a castle on a hill",
            "blurry",
            {"Steps": "18", "Sampler": "Euler", "CFG scale": "6.0", "Seed": "4242", "Size": "512x768"},
        )
        img = Image.new("RGB", (64, 64), (10, 20, 30))
        meta = PngInfo()
        meta.add_text("parameters", info)
        out = io.BytesIO()
        img.save(out, format="PNG", pnginfo=meta)
        posted = await e.discord.user_message(
            CHANNEL, BOB, "look what I made", attachments=[FakeAttachment("castle.png", out.getvalue())]
        )
        inter = await e.discord.context_menu("Image info", posted, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await inter.wait_response(5)
        text = await e.discord.wait_for_message(
            lambda m: inter.original is not None and m.id == inter.original.id and bool(m.embeds), timeout=5
        )
        assert "Seed: 4242" in text.embeds[0]["description"]
        again = await click(e, text, next(c for c in text.all_custom_ids() if c.startswith("easel:again:")))
        await e.wait_reply(again, lambda t: "Queued" in t or "Drawing" in t or "Done" in t)
        await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert (payload["prompt"], payload["negative_prompt"], payload["seed"], payload["steps"]) == (
            "a castle on a hill",
            "blurry",
            4242,
            18,
        )
        assert (payload["width"], payload["height"]) == (512, 768)
        plain = await e.discord.user_message(CHANNEL, BOB, "no images here")
        none = await e.discord.context_menu("Image info", plain, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await none.wait_response(5)
        await e.wait_reply(none, lambda t: "No generation info" in t)


async def test_draw_this_again_gets_the_servers_defaults(tmp_path: Path) -> None:
    """It used the global config: what a server set (here its default negative prompt) did not apply to it."""
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        await e.bot.policy.set_text(GUILD, "negative_prompt", "watermark, text", by=MOD)
        info = format_infotext("a harbour at night", "", {"Steps": "12", "Sampler": "Euler", "Seed": "7"})
        meta = PngInfo()
        meta.add_text("parameters", info)
        out = io.BytesIO()
        Image.new("RGB", (64, 64), (40, 50, 60)).save(out, format="PNG", pnginfo=meta)
        posted = await e.discord.user_message(
            CHANNEL, BOB, "mine", attachments=[FakeAttachment("h.png", out.getvalue())]
        )
        inter = await e.discord.context_menu("Image info", posted, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await inter.wait_response(5)
        text = await e.discord.wait_for_message(
            lambda m: inter.original is not None and m.id == inter.original.id and bool(m.embeds), timeout=5
        )
        await click(e, text, next(c for c in text.all_custom_ids() if c.startswith("easel:again:")))
        await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert (payload["prompt"], payload["negative_prompt"], payload["steps"]) == (
            "a harbour at night",
            "watermark, text",
            12,
        )


async def test_live_progress_with_preview_and_its_end(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        inter = await e.draw(prompt="slowly")
        msg = await e.discord.wait_for_message(
            lambda m: (
                inter.original is not None and m.id == inter.original.id and "%" in m.content and bool(m.attachments)
            ),
            timeout=10,
        )
        assert msg.attachments[0].filename.startswith("preview-")
        assert button(msg, "cancel")
        e.webui.release()
        done = await e.discord.wait_for_message(
            lambda m: inter.original is not None and m.id == inter.original.id and "Done" in m.content, timeout=10
        )
        assert done.attachments == [] and done.all_custom_ids() == []  # preview and Cancel gone when done


async def test_progress_updates_can_be_turned_off(tmp_path: Path) -> None:
    async with running_easel(tmp_path, queue={"status_interval": 0}) as e:
        e.webui.hold()
        inter = await e.draw(prompt="quietly")
        await e.webui.wait_generation_started(1)
        e.webui.release()
        await e.result_for(ALICE)
        assert inter.original is not None
        assert not any("%" in h.get("content", "") for h in inter.original.history)


async def test_two_remix_modals_on_one_job_both_count(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a lighthouse", seed=77)
        first = await e.result_for(ALICE)
        # Alice opens Remix twice (two tabs, or she closed the first and came back): both forms stay live.
        forms = [await click(e, first, button(first, "remix")) for _ in range(2)]
        assert forms[0].response["data"]["custom_id"] != forms[1].response["data"]["custom_id"]
        for form, prompt in zip(forms, ("a lighthouse at dawn", "a lighthouse at dusk"), strict=True):
            sub = await e.discord.submit_modal(
                form,
                form.response["data"]["custom_id"],
                {"prompt": prompt, "negative_prompt": ""},
                user_id=ALICE,
                guild_id=GUILD,
                channel_id=CHANNEL,
            )
            await sub.wait_response(5)
            assert "Queued" in sub.response["data"]["content"]
        await nth_result(e, ALICE, 3)
        assert sorted(g["prompt"] for g in e.webui.generations[1:]) == ["a lighthouse at dawn", "a lighthouse at dusk"]


async def test_info_on_ten_images_stays_within_the_embed_limit(tmp_path: Path) -> None:
    async with running_easel(tmp_path, limits={"max_count": 10}) as e:
        prompt = "a very detailed painting of a harbour, " * 36  # ~1,400 characters, in every image's infotext
        await e.draw(prompt=prompt[:1500], seed=100, count=10)
        result = await e.result_for(ALICE)
        info = await click(e, result, button(result, "info"))
        await e.discord.wait_until(lambda: len(info.followups) >= 2, timeout=5)
        messages = [info.response["data"]["embeds"], *[m.embeds for m in info.followups]]
        assert info.ephemeral and all(m.ephemeral for m in info.followups)
        for embeds in messages:
            total = sum(len(x.get("title", "")) + len(x.get("description", "")) for x in embeds)
            assert total <= 6000 and len(embeds) <= 10
        titles = [x["title"] for embeds in messages for x in embeds]
        assert titles == [f"Image {i + 1} · seed {100 + i}" for i in range(10)]  # every image, in order
        assert all("a very detailed painting of a harbour" in x["description"] for embeds in messages for x in embeds)


async def test_draw_this_again_follows_the_result_buttons_rule(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="alice's castle", seed=9)
        result = await e.result_for(ALICE)
        for user, allowed in ((BOB, False), (ALICE, True)):
            menu = await e.discord.context_menu("Image info", result, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
            await menu.wait_response(5)
            again = next(c for c in menu.response["data"]["components"][0]["components"])["custom_id"]
            assert again.startswith("easel:again:")
            assert menu.original is not None
            pressed = await click(e, menu.original, again, user=user)
            text = pressed.response["data"]["content"]
            if allowed:
                assert "Queued" in text
            else:
                assert text == "Only its requester can use this button."
        await nth_result(e, ALICE, 2)
        assert [g["prompt"] for g in e.webui.generations] == ["alice's castle", "alice's castle"]  # Bob's: none


def png_with(infotext: str | None, colour: tuple[int, int, int] = (1, 2, 3)) -> bytes:
    meta = PngInfo()
    if infotext is not None:
        meta.add_text("parameters", infotext)
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


async def image_info_text(e: Easel, attachments: list[FakeAttachment]) -> str:
    posted = await e.discord.user_message(CHANNEL, BOB, "pictures", attachments=attachments)
    inter = await e.discord.context_menu("Image info", posted, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    msg = await e.discord.wait_for_message(
        lambda m: inter.original is not None and m.id == inter.original.id and not m.loading, timeout=5
    )
    return msg.embeds[0]["description"] if msg.embeds else msg.content


async def test_image_info_downloads_a_bounded_number_of_files_and_bytes(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        info = format_infotext("found it", "", {"Steps": "20", "Seed": "31337", "Size": "512x512"})
        # Six PNGs, the settings in the sixth: only the first four are fetched.
        many = [FakeAttachment(f"p{i}.png", png_with(None, (i, i, i))) for i in range(5)]
        many.append(FakeAttachment("p5.png", png_with(info)))
        assert await image_info_text(e, many) == "No generation info found in this message's images."
        assert e.discord.attachment_downloads == [a.id for a in many[:4]]

        # Two 12 MiB files and a small one with the settings: the second big one would pass 20 MiB, so it is skipped.
        e.discord.attachment_downloads.clear()
        big = [FakeAttachment(f"big{i}.png", os.urandom(12 * 2**20)) for i in range(2)]
        small = FakeAttachment("small.png", png_with(info))
        assert "Seed: 31337" in await image_info_text(e, [*big, small])
        assert e.discord.attachment_downloads == [big[0].id, small.id]


async def test_draw_this_again_on_any_part_of_a_result_is_still_the_requesters(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        await e.draw(prompt="huge", count=2, seed=1)
        first = await e.result_for(ALICE)
        job = await e.bot.store.get_job(first.content.split("`")[1])
        assert job is not None
        images = await e.bot.store.load_result(job.id)
        # A result too big for one message, of a job no longer kept: its second message has no buttons or record.
        huge = [StoredImage(i, noisy_png(1700, im.infotext), im.infotext, im.seed) for i, im in enumerate(images)]
        job.id = "gonejob1"
        await e.bot.publisher.deliver(job, huge)
        parts = [m for m in e.discord.channel_messages(CHANNEL) if m.kind == "channel" and "gonejob1" in m.content]
        assert len(parts) == 2 and parts[1].content.startswith("`gonejob1` (2/")
        # Bob on either part: refused. Alice on the part that names her: drawn again from the image's settings.
        for user, part, allowed in ((BOB, parts[1], False), (BOB, parts[0], False), (ALICE, parts[0], True)):
            menu = await e.discord.context_menu("Image info", part, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
            await menu.wait_response(5)
            shown = await e.discord.wait_for_message(
                lambda m, menu=menu: menu.original is not None and m.id == menu.original.id and bool(m.embeds),
                timeout=10,
            )
            pressed = await click(
                e, shown, next(c for c in shown.all_custom_ids() if c.startswith("easel:again:")), user
            )
            text = await e.wait_reply(pressed, lambda t: bool(t))
            if allowed:
                assert "Queued" in text or "Drawing" in text or "Done" in text
            else:
                assert text == "Only its requester can use this button."
        await nth_result(e, ALICE, 3)  # the first result, part 1 of the big one, and Alice's draw again
        assert len(e.webui.generations) == 2  # none for Bob


async def test_summary_and_info_name_the_loras_face_fix_and_preset(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a harbour", steps=14)
        plain = await e.result_for(ALICE)
        assert "LoRA" not in plain.content and "Face fix" not in plain.content and "Preset" not in plain.content
        inter = await e.discord.invoke(
            "preset", {"name": "harbour"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL, subcommand="save"
        )
        assert "Saved your preset" in (await inter.wait_response(5))["data"]["content"]

        await e.draw(
            prompt="a harbour at dusk", preset="harbour", lora="add_detail:0.8, lcm-lora-sdv1-5:0.5", face_fix="on"
        )
        result = await nth_result(e, ALICE, 2)
        assert e.webui.generations[-1]["steps"] == 14  # the preset's
        assert "LoRA: add\\_detail 0.8, lcm-lora-sdv1-5 0.5" in result.content
        assert "Face fix: on" in result.content and "Preset: harbour" in result.content
        assert len(result.content) <= 2000

        info = await click(e, result, button(result, "info"))
        footer = info.response["data"]["embeds"][-1]["footer"]["text"]
        assert footer == "LoRA: add_detail 0.8, lcm-lora-sdv1-5 0.5 · Face fix: on · Preset: harbour"
        plain_info = await click(e, plain, button(plain, "info"))
        assert all("footer" not in embed for embed in plain_info.response["data"]["embeds"])
