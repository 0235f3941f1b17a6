"""The image tools end to end: /upscale and the Upscale context menu on someone else's picture, /describe then
Draw this, Zoom out (twice, sizes checked) and pan in each direction under a result, refusals, cancelling a tool
job in line."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from easel.infotext import format_infotext, png_parameters, read_png_text
from easel.safety.images import StaticClassifier
from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, Easel, running_easel
from tests.fakes.discord_fake import FakeAttachment, FakeInteraction, FakeMessage
from tests.fakes.webui_fake import _seed_colour

INFO = format_infotext("a castle on a hill", "blurry", {"Steps": "18", "Sampler": "Euler", "Seed": "4242"})


def picture(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30), infotext: str = "") -> bytes:
    meta = None
    if infotext:
        meta = PngInfo()
        meta.add_text("parameters", infotext)
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


async def run(e: Easel, name: str, options: dict[str, object], user: int = ALICE) -> FakeInteraction:
    inter = await e.discord.invoke(name, options, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


async def menu(e: Easel, name: str, message: FakeMessage, user: int = ALICE) -> FakeInteraction:
    inter = await e.discord.context_menu(name, message, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


async def click(e: Easel, message: FakeMessage, custom_id: str, user: int = ALICE) -> FakeInteraction:
    inter = await e.discord.click(message, custom_id, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


def tool_button(message: FakeMessage, action: str, index: int = 0) -> str:
    wanted = f"easel:tool:{action}:"
    found = [c for c in message.all_custom_ids() if c.startswith(wanted) and c.endswith(f":{index}")]
    assert found, f"no {action} button in {message.all_custom_ids()}"
    return found[0]


async def results(e: Easel, n: int, user: int = ALICE) -> list[FakeMessage]:
    """Until ``user`` has ``n`` results in the channel; all of them, oldest first."""

    def mine() -> list[FakeMessage]:
        return [m for m in e.discord.channel_messages(CHANNEL) if m.attachments and m.content.startswith(f"<@{user}>")]

    await e.discord.wait_until(lambda: len(mine()) >= n, timeout=15)
    return mine()


async def test_upscale_a_foreign_picture_with_the_command_and_the_context_menu(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        # /upscale: Bob's picture, 2x, its infotext carried over to the result
        inter = await run(e, "upscale", {"image": FakeAttachment("castle.png", picture(160, 96, infotext=INFO))})
        await e.wait_reply(inter, lambda t: "Queued" in t or "Done" in t)
        (first,) = await results(e, 1)
        assert first.attachments[0].filename.startswith("upscaled-")
        assert size_of(first.attachments[0].data) == (320, 192)
        assert png_parameters(first.attachments[0].data) == INFO
        assert "upscale 2x" in first.content
        extras = [body for _m, path, body in e.webui.requests if path == "/sdapi/v1/extra-single-image"]
        assert extras[-1]["upscaling_resize"] == 2.0 and extras[-1]["upscaler_1"] == "R-ESRGAN 4x+"

        # factor and upscaler given; the upscaler list comes from the backend
        choices = await e.discord.autocomplete(
            "upscale",
            {"image": FakeAttachment("x.png", picture(8, 8)), "upscaler": "Lan"},
            "upscaler",
            user_id=ALICE,
            guild_id=GUILD,
            channel_id=CHANNEL,
        )
        assert "Lanczos" in [c["value"] for c in choices]
        await run(
            e, "upscale", {"image": FakeAttachment("c.png", picture(100, 60)), "factor": 3.0, "upscaler": "Lanczos"}
        )
        second = (await results(e, 2))[-1]
        assert size_of(second.attachments[0].data) == (300, 180)

        # the context menu on a message with one picture: at once
        posted = await e.discord.user_message(
            CHANNEL, BOB, "look", attachments=[FakeAttachment("one.png", picture(64, 48))]
        )
        await menu(e, "Upscale", posted)
        third = (await results(e, 3))[-1]
        assert size_of(third.attachments[0].data) == (128, 96)

        # several pictures: a select menu, then the one picked
        many = await e.discord.user_message(
            CHANNEL,
            BOB,
            "two",
            attachments=[FakeAttachment("a.png", picture(40, 40)), FakeAttachment("b.png", picture(50, 30))],
        )
        picker = await menu(e, "Upscale", many)
        shown = await e.discord.wait_for_message(
            lambda m: picker.original is not None and m.id == picker.original.id and bool(m.components), timeout=5
        )
        assert picker.ephemeral and "2 pictures" in shown.content
        select = next(c for c in shown.all_custom_ids() if c.startswith("easel:pickimage:"))
        chosen = await e.discord.click(shown, select, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL, values=["1"])
        await chosen.wait_response(5)
        fourth = (await results(e, 4))[-1]
        assert size_of(fourth.attachments[0].data) == (100, 60)
        # only the picked picture was downloaded, from the attachment Discord handed over
        picked = many.attachments[1]
        downloads = [r.raw_path or r.path for r in e.discord.requests if "/attachments/" in (r.raw_path or r.path)]
        assert [d for d in downloads if f"/{many.attachments[0].id}/" in d] == []
        assert len([d for d in downloads if f"/{picked.id}/" in d]) == 1


async def test_upscale_past_the_pixel_ceiling_is_refused_privately(tmp_path: Path) -> None:
    async with running_easel(tmp_path, tools={"max_upscale_pixels": 512 * 512, "max_upscale_factor": 3.0}) as e:
        (upscale,) = [c for c in e.discord.registered_commands(GUILD) if c["name"] == "upscale"]
        factor = next(o for o in upscale["options"] if o["name"] == "factor")
        image = next(o for o in upscale["options"] if o["name"] == "image")
        assert image["type"] == 11 and all(
            o["type"] != 3 or o["name"] in ("upscaler", "face_fix") for o in upscale["options"]
        )
        assert (factor["min_value"], factor["max_value"]) == (1.5, 3.0)  # Discord's form refuses the rest
        assert {c["name"] for c in e.discord.registered_commands(GUILD) if c["type"] == 3} == {
            "Image info",
            "Upscale",
            "Describe",
        }
        inter = await run(e, "upscale", {"image": FakeAttachment("big.png", picture(400, 400)), "factor": 2.0})
        text = await e.wait_reply(inter, lambda t: "pixels" in t)
        assert inter.ephemeral and "more than the 262,144 pixels" in text
        assert not any(path == "/sdapi/v1/extra-single-image" for _m, path, _b in e.webui.requests)


async def test_describe_then_draw_this(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        posted = await e.discord.user_message(
            CHANNEL, BOB, "what is it", attachments=[FakeAttachment("p.png", picture(96, 64, infotext=INFO))]
        )
        inter = await menu(e, "Describe", posted)
        answer = await e.discord.wait_for_message(
            lambda m: m.kind == "followup" and "ready to copy" in m.content, timeout=15
        )
        assert answer.ephemeral
        assert "```\na red picture of 96 by 64 pixels\n```" in answer.content
        assert "a castle on a hill" in answer.embeds[0]["description"]  # the picture's own parameters beside
        assert e.webui.interrogations[-1]["model"] == "clip"
        await e.wait_reply(inter, lambda t: "Done" in t)
        assert [m for m in e.discord.channel_messages(CHANNEL) if m.author_id != BOB and not m.ephemeral] == []

        # someone else can't use the button; its owner gets the modal prefilled, then a normal /draw
        refused = await click(e, answer, tool_button(answer, "drawthis"), user=BOB)
        assert refused.ephemeral and "Only the person" in refused.response["data"]["content"]
        opened = await click(e, answer, tool_button(answer, "drawthis"))
        assert opened.response_type == 9
        fields = opened.response["data"]["components"]
        assert fields[0]["components"][0]["value"] == "a red picture of 96 by 64 pixels"
        sub = await e.discord.submit_modal(
            opened,
            opened.response["data"]["custom_id"],
            {"prompt": "a red picture, oil painting", "negative_prompt": ""},
            user_id=ALICE,
            guild_id=GUILD,
            channel_id=CHANNEL,
        )
        await sub.wait_response(5)
        await e.result_for(ALICE)
        assert e.webui.generations[-1]["prompt"] == "a red picture, oil painting"

        # /describe with tags
        await run(
            e, "describe", {"image": FakeAttachment("g.png", picture(32, 32, (10, 200, 10))), "model": "deepdanbooru"}
        )
        tags = await e.discord.wait_for_message(
            lambda m: m.kind == "followup" and "green theme" in m.content, timeout=15
        )
        assert "DeepDanbooru" in tags.content and not tags.embeds  # no infotext: nothing beside


async def test_zoom_out_twice_and_the_original_is_kept(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a lighthouse", seed=77, steps=10)
        (first,) = await results(e, 1)
        source = pixels(first.attachments[0].data)
        assert source.size == (512, 512)
        assert {tool_button(first, a) for a in ("zoom15", "zoom2", "left", "right", "up", "down")}

        await click(e, first, tool_button(first, "zoom15"))
        zoomed = (await results(e, 2))[-1]
        payload = e.webui.generations[-1]
        assert (payload["width"], payload["height"]) == (768, 768)
        assert payload["prompt"] == "a lighthouse" and payload["seed"] == 77 and payload["steps"] == 10
        assert payload["inpainting_fill"] == 1 and payload["inpaint_full_res"] is False and payload["mask"]
        assert payload["denoising_strength"] == 0.85
        out = pixels(zoomed.attachments[0].data)
        assert out.size == (768, 768)
        # the original sits in the middle, unchanged; the border is new
        assert out.crop((128, 128, 640, 640)).tobytes() == source.tobytes()
        assert out.getpixel((5, 5)) != source.getpixel((5, 5)) or out.getpixel((5, 760)) != source.getpixel((5, 507))
        assert "zoom out 1.5x" in zoomed.content

        # again, 2x of the zoomed result: 1536 px wide is past the 1024 limit, so the canvas is drawn smaller
        await click(e, zoomed, tool_button(zoomed, "zoom2"))
        twice = (await results(e, 3))[-1]
        assert size_of(twice.attachments[0].data) == (1024, 1024)
        assert e.webui.inpaint_sizes[-1] == ((1024, 1024), (1024, 1024))
        assert e.webui.validation_errors == []


async def test_pan_in_each_direction(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a long beach", width=512, height=384)
        (first,) = await results(e, 1)
        source = pixels(first.attachments[0].data)
        expected = {
            "left": ((768, 384), (256, 0)),
            "right": ((768, 384), (0, 0)),
            "up": ((512, 576), (0, 192)),
            "down": ((512, 576), (0, 0)),
        }
        for n, (direction, (size, (x, y))) in enumerate(expected.items(), start=2):
            await click(e, first, tool_button(first, direction))
            out = pixels((await results(e, n))[-1].attachments[0].data)
            assert out.size == size, direction
            kept = out.crop((x, y, x + 512, y + 384))
            assert kept.tobytes() == source.tobytes(), direction


async def test_batch_results_zoom_per_image(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="two cats", count=2, seed=5)
        (first,) = await results(e, 1)
        ids = first.all_custom_ids()
        assert len(ids) <= 25 and tool_button(first, "pick", 1)
        chooser = await click(e, first, tool_button(first, "pick", 1))
        assert chooser.ephemeral
        shown = await e.discord.wait_for_message(
            lambda m: m.ephemeral and "picture 2 of" in m.content and bool(m.components), timeout=5
        )
        await click(e, shown, tool_button(shown, "left", 1))
        await results(e, 2)
        assert e.webui.generations[-1]["seed"] == 6  # the second image's own seed


async def test_no_usable_picture_is_refused_privately(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        text_only = await e.discord.user_message(
            CHANNEL, BOB, "notes", attachments=[FakeAttachment("notes.txt", b"hello", content_type="text/plain")]
        )
        for name in ("Upscale", "Describe"):
            inter = await menu(e, name, text_only)
            assert inter.ephemeral
            assert "no picture Easel can use" in await e.wait_reply(inter, lambda t: "picture" in t)
        fake_png = FakeAttachment("broken.png", b"\x89PNG\r\n\x1a\n not really", content_type="image/png")
        inter = await run(e, "upscale", {"image": fake_png})
        assert "could not be read as a picture" in await e.wait_reply(inter, lambda t: "picture" in t)
        assert not any(
            path in ("/sdapi/v1/extra-single-image", "/sdapi/v1/interrogate") for _m, path, _b in e.webui.requests
        )


async def test_describe_and_face_fix_are_refused_where_no_backend_can(tmp_path: Path) -> None:
    async with running_easel(tmp_path, flavor="sdnext") as e:
        inter = await run(e, "describe", {"image": FakeAttachment("p.png", picture(32, 32))})
        assert "can describe pictures" in await e.wait_reply(inter, lambda t: "describe" in t)
        inter = await run(e, "upscale", {"image": FakeAttachment("p.png", picture(32, 32)), "face_fix": "gfpgan"})
        assert "face restoration" in await e.wait_reply(inter, lambda t: "face" in t)
        assert e.webui.interrogations == []


async def test_describe_on_sdnext_uses_its_caption_routes(tmp_path: Path) -> None:
    async with running_easel(tmp_path, flavor="sdnext", start=False) as e:
        e.webui.serve_captions("openclip", "tagger")
        await e.start_bot()
        inter = await run(e, "describe", {"image": FakeAttachment("p.png", picture(40, 24, (10, 10, 220)))})
        answer = await e.discord.wait_for_message(
            lambda m: m.kind == "followup" and "ready to copy" in m.content, timeout=15
        )
        assert "```\na blue picture of 40 by 24 pixels\n```" in answer.content
        await e.wait_reply(inter, lambda t: "Done" in t)
        await run(
            e, "describe", {"image": FakeAttachment("g.png", picture(32, 32, (10, 200, 10))), "model": "deepdanbooru"}
        )
        tags = await e.discord.wait_for_message(
            lambda m: m.kind == "followup" and "green theme" in m.content, timeout=15
        )
        assert "no humans, simple background, green theme" in tags.content
        assert [(route, body["model"]) for route, body in e.webui.caption_calls] == [
            ("openclip", "ViT-L-14/openai"),
            ("tagger", "deepbooru"),
        ]
        assert e.webui.interrogations == []


async def test_sdnext_without_caption_routes_refuses_describe_but_draws(tmp_path: Path) -> None:
    async with running_easel(tmp_path, flavor="sdnext") as e:
        inter = await run(e, "describe", {"image": FakeAttachment("p.png", picture(32, 32))})
        text = await e.wait_reply(inter, lambda t: "describe" in t)
        assert inter.ephemeral and "caption" in text
        assert e.webui.caption_calls == [] and e.webui.interrogations == []
        await e.draw(prompt="still drawing")
        await e.result_for(ALICE)


async def test_info_on_a_description_shows_the_pictures_own_parameters(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        posted = await e.discord.user_message(
            CHANNEL, BOB, "look", attachments=[FakeAttachment("p.png", picture(96, 64, infotext=INFO))]
        )
        await menu(e, "Describe", posted)
        answer = await e.discord.wait_for_message(
            lambda m: m.kind == "followup" and "ready to copy" in m.content, timeout=15
        )
        info = await menu(e, "Image info", answer)
        (embed,) = info.response["data"]["embeds"]
        assert "a castle on a hill" in embed["description"] and "Steps: 18" in embed["description"]
        assert "a red picture" not in embed["description"] and "/draw" not in embed["description"]

        # a picture without parameters: Info says the answer is a description, not a drawing's infotext
        await run(e, "describe", {"image": FakeAttachment("q.png", picture(24, 24, (10, 200, 10)))})
        bare = await e.discord.wait_for_message(
            lambda m: m.kind == "followup" and "green picture" in m.content, timeout=15
        )
        info = await menu(e, "Image info", bare)
        (embed,) = info.response["data"]["embeds"]
        text = embed["title"] + embed["description"]
        assert "description" in text and "no generation parameters" in text
        assert "green picture" not in text and "/draw" not in text


async def test_upscale_with_face_restoration(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await run(e, "upscale", {"image": FakeAttachment("f.png", picture(40, 40)), "face_fix": "codeformer"})
        (result,) = await results(e, 1)
        extras = [body for _m, path, body in e.webui.requests if path == "/sdapi/v1/extra-single-image"]
        assert (extras[-1]["codeformer_visibility"], extras[-1]["codeformer_weight"]) == (1.0, 0.5)
        assert "gfpgan_visibility" not in extras[-1]
        assert "CodeFormer visibility: 1" in read_png_text(result.attachments[0].data)["postprocessing"]


async def test_cancel_a_queued_tool_job(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        await e.draw(prompt="keeps the backend busy")
        await e.webui.wait_generation_started(1)
        inter = await run(e, "describe", {"image": FakeAttachment("p.png", picture(32, 32))})
        queued = await e.wait_reply(inter, lambda t: "Queued" in t)
        job_id = queued.split("`")[1]
        assert e.bot is not None and [j.id for j in e.bot.queue.queued_jobs()] == [job_id]
        mine = await e.discord.invoke("queue", None, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        assert f"`{job_id}` #1 in line" in (await mine.wait_response(5))["data"]["content"]
        cancel = await e.discord.invoke("cancel", {"job": job_id}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        response = await cancel.wait_response(5)
        assert f"Cancelled job `{job_id}`" in response["data"]["content"]
        e.webui.release()
        async with asyncio.timeout(10):
            await e.bot.queue.wait_idle()
        assert e.webui.interrogations == []
        assert not [m for m in e.discord.messages if m.kind == "followup" and "ready to copy" in m.content]


async def test_tool_buttons_work_after_a_restart(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a quiet harbour", seed=3)
        (first,) = await results(e, 1)
        await run(e, "describe", {"image": FakeAttachment("p.png", picture(24, 24))})
        answer = await e.discord.wait_for_message(lambda m: m.kind == "followup" and "ready to copy" in m.content)
        await e.stop_bot()
        await e.start_bot()
        await click(e, first, tool_button(first, "right"))
        out = (await results(e, 2))[-1]
        assert size_of(out.attachments[0].data) == (768, 512)
        opened = await click(e, answer, tool_button(answer, "drawthis"))
        assert opened.response_type == 9


async def test_a_description_goes_by_dm_once_the_token_expired(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        await e.draw(prompt="busy")
        await e.webui.wait_generation_started(1)
        inter = await run(e, "describe", {"image": FakeAttachment("p.png", picture(24, 24))})
        await e.wait_reply(inter, lambda t: "Queued" in t)
        e.discord.expire_token(inter)
        e.webui.release()
        dm = await e.discord.wait_for_message(
            lambda m: m.kind == "channel" and m.channel_id != CHANNEL and "ready to copy" in m.content, timeout=15
        )
        assert "a red picture of 24 by 24 pixels" in dm.content and tool_button(dm, "drawthis")
        assert e.bot is not None
        async with asyncio.timeout(10):
            await e.bot.queue.wait_idle()
        assert len([m for m in e.discord.messages if "ready to copy" in m.content]) == 1


async def test_the_image_check_applies_to_tools(tmp_path: Path) -> None:
    clf = StaticClassifier(marker=_seed_colour(9))
    async with running_easel(tmp_path, classifier=clf, safety={"nsfw_check": "spoiler"}) as e:
        await e.draw(prompt="a field", seed=9)
        (first,) = await results(e, 1)
        assert first.attachments[0].spoiler
        await click(e, first, tool_button(first, "zoom2"))
        zoomed = (await results(e, 2))[-1]
        assert zoomed.attachments[0].spoiler and "behind a spoiler" in zoomed.content
        # a flagged picture to upscale is refused, like a flagged init image
        flagged = FakeAttachment("f.png", picture(32, 32, _seed_colour(9)))
        inter = await run(e, "upscale", {"image": flagged})
        assert "image check" in await e.wait_reply(inter, lambda t: "image check" in t)


async def test_a_tool_job_is_retried_when_the_backend_fails(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.fail_next("/sdapi/v1/interrogate", 500)
        e.webui.fail_next("/sdapi/v1/extra-single-image", 503)
        await run(e, "describe", {"image": FakeAttachment("p.png", picture(24, 24))})
        await e.discord.wait_for_message(lambda m: m.kind == "followup" and "ready to copy" in m.content, timeout=15)
        await run(e, "upscale", {"image": FakeAttachment("q.png", picture(24, 24))})
        (result,) = await results(e, 1)
        assert size_of(result.attachments[0].data) == (48, 48)
        assert [r for r in e.webui.responses if r[0] == "/sdapi/v1/interrogate"] == [
            ("/sdapi/v1/interrogate", 500),
            ("/sdapi/v1/interrogate", 200),
        ]


async def test_custom_zoom_and_reroll_of_a_zoom(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="a lighthouse", seed=21)
        (first,) = await results(e, 1)
        opened = await click(e, first, tool_button(first, "zoomx"))
        assert opened.response_type == 9
        modal = opened.response["data"]["custom_id"]
        bad = await e.discord.submit_modal(
            opened, modal, {"factor": "lots", "prompt": "x"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        await bad.wait_response(5)
        assert bad.ephemeral and "must be a number" in bad.response["data"]["content"]
        opened = await click(e, first, tool_button(first, "zoomx"))
        sub = await e.discord.submit_modal(
            opened,
            opened.response["data"]["custom_id"],
            {"factor": "1.25", "prompt": "a lighthouse at dusk, wide shot"},
            user_id=ALICE,
            guild_id=GUILD,
            channel_id=CHANNEL,
        )
        await sub.wait_response(5)
        zoomed = (await results(e, 2))[-1]
        payload = e.webui.generations[-1]
        assert (payload["width"], payload["height"], payload["prompt"]) == (640, 640, "a lighthouse at dusk, wide shot")
        assert size_of(zoomed.attachments[0].data) == (640, 640)
        # Reroll of a zoom: the same zoom of the same picture, a new seed
        reroll = next(c for c in zoomed.all_custom_ids() if c.startswith("easel:reroll:"))
        await click(e, zoomed, reroll)
        again = (await results(e, 3))[-1]
        payload = e.webui.generations[-1]
        assert payload["mask"] and payload["seed"] == -1 and (payload["width"], payload["height"]) == (640, 640)
        assert (
            pixels(again.attachments[0].data).crop((64, 64, 576, 576)).tobytes()
            == pixels(first.attachments[0].data).tobytes()
        )
