"""The image check on results and uploads, end to end, with a StaticClassifier.

The webui fake paints each image's top-left pixel with ``_seed_colour(seed)`` and numbers the images of a batch
seed, seed + 1, ...: a classifier whose marker is the colour of one seed flags exactly that image.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from easel.infotext import png_parameters
from easel.safety.images import ClassifierError, ImageVerdict, StaticClassifier
from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, NSFW_CHANNEL, Easel, png, running_easel
from tests.fakes.discord_fake import FakeAttachment, FakeInteraction, FakeMessage
from tests.fakes.webui_fake import _seed_colour

SEED = 4242


def flagging(seed: int) -> StaticClassifier:
    """A classifier that flags the image the fake renders for ``seed`` (and no other of these tests)."""
    return StaticClassifier(marker=_seed_colour(seed))


def top_left(data: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(data)) as im:
        return tuple(im.convert("RGB").getpixel((0, 0)))  # type: ignore[arg-type]


def check(mode: str) -> dict[str, str]:
    return {"nsfw_check": mode}


async def click(e: Easel, message: FakeMessage, custom_id: str, user: int = ALICE) -> FakeInteraction:
    inter = await e.discord.click(message, custom_id, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


def original_button(message: FakeMessage) -> str:
    ids = [c for c in message.all_custom_ids() if c.startswith("easel:original:")]
    assert ids, message.all_custom_ids()
    return ids[0]


async def test_spoiler_hides_only_the_flagged_image_of_a_batch(tmp_path: Path) -> None:
    clf = flagging(SEED + 1)
    async with running_easel(tmp_path, classifier=clf, safety=check("spoiler")) as e:
        await e.draw(seed=SEED, count=2)
        result = await e.result_for(ALICE)
        assert [a.spoiler for a in result.attachments] == [False, True]
        assert "behind a spoiler" in result.content
        assert clf.seen == 2
        # Nothing flagged: posted as before, without a note.
        await e.draw(seed=SEED + 10)
        plain = await e.discord.wait_for_message(
            lambda m: m.kind == "channel" and bool(m.attachments) and m.id != result.id, timeout=15
        )
        assert not plain.attachments[0].spoiler and "image check" not in plain.content


async def test_blur_posts_a_blurred_copy_and_the_requester_alone_gets_the_original(tmp_path: Path) -> None:
    async with running_easel(tmp_path, classifier=flagging(SEED), safety=check("blur")) as e:
        await e.draw(seed=SEED)
        result = await e.result_for(ALICE)
        (posted,) = result.attachments
        assert posted.filename.endswith("-blurred.png") and not posted.spoiler
        assert png_parameters(posted.data) is None  # no infotext in the blurred copy
        assert posted.data not in e.webui.results[-1]
        assert "blurred" in result.content

        # After a restart (the original comes from the store): Bob may not, Alice gets it privately.
        await e.stop_bot()
        await e.start_bot()
        button = original_button(result)
        refused = await click(e, result, button, user=BOB)
        assert refused.ephemeral and "Only its requester" in refused.response["data"]["content"]
        pressed = await click(e, result, button)
        assert pressed.ephemeral
        got = await e.discord.wait_for_message(
            lambda m: pressed.original is not None and m.id == pressed.original.id and bool(m.attachments),
            timeout=10,
        )
        (original,) = got.attachments
        assert top_left(original.data) == _seed_colour(SEED)
        assert f"Seed: {SEED}" in (png_parameters(original.data) or "")
        assert original.data in e.webui.results[-1]
        others = [m for m in e.discord.channel_messages(CHANNEL) if m.kind == "channel" and m.attachments]
        assert [m.id for m in others] == [result.id]  # nothing posted in the channel for it


async def test_refuse_posts_the_rest_of_a_batch_and_tells_the_requester(tmp_path: Path) -> None:
    async with running_easel(tmp_path, classifier=flagging(SEED), safety=check("refuse")) as e:
        inter = await e.draw(seed=SEED, count=2)
        result = await e.result_for(ALICE)
        (posted,) = result.attachments
        assert posted.filename.endswith("-2.png") and top_left(posted.data) == _seed_colour(SEED + 1)
        # The per-image buttons are those of the image posted (the second), not of the one left out.
        numbered = {c for c in result.all_custom_ids() if c.startswith(("easel:vary:", "easel:upscale:"))}
        assert numbered and all(c.endswith(":1") for c in numbered)
        text = await e.wait_reply(inter, lambda t: "not posted" in t)
        assert "1 of 2 images" in text

        # All flagged: nothing in the channel, the requester told.
        before = len([m for m in e.discord.channel_messages(CHANNEL) if m.kind == "channel" and m.attachments])
        alone = await e.draw(seed=SEED)
        text = await e.wait_reply(alone, lambda t: "nothing was posted" in t, timeout=15)
        assert "flagged" in text
        assert len([m for m in e.discord.channel_messages(CHANNEL) if m.kind == "channel" and m.attachments]) == before


async def test_an_age_restricted_channel_changes_nothing(tmp_path: Path) -> None:
    clf = flagging(SEED)
    async with running_easel(tmp_path, classifier=clf, safety=check("refuse")) as e:
        await e.draw(channel=NSFW_CHANNEL, seed=SEED)
        result = await e.result_for(ALICE, channel=NSFW_CHANNEL)
        (posted,) = result.attachments
        assert not posted.spoiler and top_left(posted.data) == _seed_colour(SEED)
        init = FakeAttachment("photo.png", png(96, 64, colour=_seed_colour(SEED)), content_type="image/png")
        inter = await e.draw(channel=NSFW_CHANNEL, prompt="as a painting", init_image=init)
        await e.wait_reply(inter, lambda t: "Queued" in t or "Drawing" in t or "Done" in t)
        assert clf.seen == 0


async def test_a_flagged_init_image_is_refused_before_queueing(tmp_path: Path) -> None:
    async with running_easel(tmp_path, classifier=flagging(SEED), safety=check("spoiler")) as e:
        init = FakeAttachment("photo.png", png(96, 64, colour=_seed_colour(SEED)), content_type="image/png")
        inter = await e.draw(prompt="as a painting", init_image=init)
        text = await e.wait_reply(inter, lambda t: "image check" in t)
        assert "init image" in text and "\n" not in text
        assert e.bot is not None and e.bot.queue.queued_jobs() == [] and e.webui.generations == []
        # Another picture is accepted.
        fine = FakeAttachment("photo.png", png(96, 64), content_type="image/png")
        inter = await e.draw(prompt="as a painting", init_image=fine)
        await e.wait_reply(inter, lambda t: "Queued" in t or "Drawing" in t or "Done" in t)


class BrokenClassifier:
    """The model failing on every picture."""

    async def classify(self, image: bytes) -> ImageVerdict:
        raise ClassifierError("the model is damaged")


async def test_a_result_that_cannot_be_checked_counts_as_flagged(tmp_path: Path) -> None:
    async with running_easel(tmp_path, classifier=BrokenClassifier(), safety=check("spoiler")) as e:
        await e.draw(seed=SEED)
        result = await e.result_for(ALICE)
        assert [a.spoiler for a in result.attachments] == [True]


async def test_a_servers_own_mode_applies_from_the_next_job(tmp_path: Path) -> None:
    admin = 333333333333333338
    async with running_easel(tmp_path, classifier=flagging(SEED)) as e:
        e.discord.add_member(GUILD, admin, name="admin", permissions=1 << 5)  # Manage Server
        await e.draw(seed=SEED)
        before = await e.result_for(ALICE)  # global default off: posted as it is
        assert not before.attachments[0].spoiler
        inter = await e.discord.invoke(
            "settings",
            {"key": "nsfw_check", "value": "refuse"},
            user_id=admin,
            guild_id=GUILD,
            channel_id=CHANNEL,
            subcommand="set",
        )
        assert "refuse" in (await inter.wait_response(5))["data"]["content"]
        refused = await e.draw(seed=SEED)
        await e.wait_reply(refused, lambda t: "nothing was posted" in t, timeout=15)


async def test_a_flagged_image_is_told_to_the_log_channel_and_counted(tmp_path: Path) -> None:
    from easel.metrics import METRICS

    logs = 222222222222222228
    async with running_easel(tmp_path, classifier=flagging(SEED), safety=check("spoiler")) as e:
        assert e.bot is not None
        e.discord.add_channel(GUILD, logs, name="mod-log")
        await e.bot.policy.set_text(GUILD, "log_channel", f"<#{logs}>", by=ALICE)
        before = METRICS.refusals.get("nsfw_spoiler", 0)
        await e.draw(seed=SEED)
        result = await e.result_for(ALICE)
        line = await e.discord.wait_for_message(lambda m: m.channel_id == logs, timeout=10)
        assert "image check flagged an image" in line.content and "nsfw_spoiler" in line.content
        assert result.id != line.id and not line.attachments  # never the picture itself
        assert METRICS.refusals.get("nsfw_spoiler", 0) == before + 1
