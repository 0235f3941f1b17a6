"""The AI Horde as a backend, end to end: the real bot against the Discord fake, the webui fake and the Horde fake
(tests/fakes/horde_fake.py, which checks every request against the Horde's OpenAPI document)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from easel.infotext import parse_infotext, png_parameters
from tests.cogs.harness import (
    ALICE,
    BOB,
    CHANNEL,
    E2E,
    GUILD,
    MOD,
    MOD_ROLE,
    NSFW_CHANNEL,
    Easel,
    make_discord,
    running_easel,
)
from tests.cogs.test_restart import BotProcess, results
from tests.fakes.horde_fake import FakeHorde
from tests.helpers import make_config

CAROL = 333333333333333333
DAVE = 333333333333333334


def horde_table(fake: FakeHorde, **changes: Any) -> dict[str, Any]:
    return {"kind": "horde", "name": "horde", "url": fake.url, "api_key": "test-key", "poll_interval": 0.05, **changes}


@contextlib.asynccontextmanager
async def with_horde(
    tmp_path: Path,
    *,
    local: bool,
    horde: dict[str, Any] | None = None,
    fake_kw: dict[str, Any] | None = None,
    **sections: Any,
) -> AsyncIterator[tuple[Easel, FakeHorde]]:
    async with FakeHorde(**(fake_kw or {})) as fake, running_easel(tmp_path, start=False) as easel:
        backends: list[Any] = [{"name": "gpu0", "url": easel.webui.url}] if local else []
        backends.append(horde_table(fake))
        sections.setdefault("horde", horde or {"mode": "only"})
        sections.setdefault("limits", {"max_queued_per_user": 10})
        cfg = make_config(backends, tmp_path / "easel.db", preset=E2E, **sections)
        await easel.start_bot(cfg)
        yield easel, fake
        assert fake.validation_errors == [], fake.validation_errors
        assert fake.response_errors == [], fake.response_errors


async def test_a_horde_only_bot_draws_and_posts_a_png_with_infotext(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False, fake_kw={"workers": [("volunteer-7", 0.05)]}) as (easel, fake):
        inter = await easel.draw(prompt="a red fox", negative_prompt="blurry", seed=4242, steps=12)
        assert "Queued" in inter.response["data"]["content"]  # type: ignore[index]
        result = await easel.result_for(ALICE)
        assert len(fake.submits) == 1
        sent = fake.submits[0]
        assert sent["prompt"] == "a red fox ### blurry" and sent["params"]["seed"] == "4242"
        assert (sent["nsfw"], sent["censor_nsfw"]) == (True, False)  # the image check is off here
        data = result.attachments[0].data
        assert data.startswith(b"\x89PNG") and result.attachments[0].filename.endswith(".png")
        info = parse_infotext(png_parameters(data) or "")
        assert info.prompt == "a red fox" and info.negative_prompt == "blurry" and info.seed == 4242
        assert info.steps == 12 and info.get("Horde worker") == "volunteer-7"


async def test_overflow_sends_the_jobs_that_would_wait_to_the_horde_each_posted_once(tmp_path: Path) -> None:
    async with with_horde(
        tmp_path,
        local=True,
        horde={"mode": "overflow", "overflow_after": 0.5},
        fake_kw={"workers": [("w1", 0.05), ("w2", 0.05)]},
    ) as (easel, fake):
        easel.webui.gen_seconds = 1.0
        for bot_backend in easel.bot.queue.backends.values():  # type: ignore[union-attr]
            bot_backend.seconds_per_unit = 1.0 / 6.5536  # 1 s for a 25-step 512x512 job
        users = [ALICE, BOB, CAROL, DAVE, MOD]
        for user in users:
            await easel.draw(user=user, prompt=f"fox of {user}")
        for user in users:
            await easel.result_for(user, timeout=20)
        await easel.bot.queue.wait_idle()  # type: ignore[union-attr]
        posted = [m for m in easel.discord.messages if m.attachments and m.channel_id == CHANNEL]
        assert sorted(m.content.split(">")[0] for m in posted) == sorted(f"<@{u}" for u in users)  # once each
        assert 1 <= len(fake.submits) <= 4 and len(easel.webui.generations) >= 1
        assert len(fake.submits) + len(easel.webui.generations) == len(users)  # none drawn twice


async def test_with_the_horde_off_nothing_goes_there(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=True, horde={"mode": "off"}) as (easel, fake):
        await easel.draw()
        await easel.result_for(ALICE)
        assert fake.submits == [] and len(easel.webui.generations) == 1


async def test_a_server_chooses_with_settings(tmp_path: Path) -> None:
    admin = {"admin_role_ids": [MOD_ROLE]}
    async with with_horde(tmp_path, local=True, horde={"mode": "off"}, discord=admin) as (easel, fake):
        inter = await easel.discord.invoke(
            "settings",
            {"key": "horde", "value": "only"},
            user_id=MOD,
            guild_id=GUILD,
            channel_id=CHANNEL,
            subcommand="set",
        )
        response = await inter.wait_response(5)
        assert "`horde` is now `only`" in str(response["data"]["content"])
        await easel.draw()
        await easel.result_for(ALICE)
        assert len(fake.submits) == 1 and easel.webui.generations == []


async def test_a_censored_placeholder_is_never_posted(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False, safety={"nsfw_check": "spoiler"}) as (easel, fake):
        inter = await easel.draw(prompt="a nsfwword fox")
        text = await easel.wait_reply(inter, lambda t: "failed" in t, timeout=15)
        assert "censored" in text and "age-restricted channel" in text
        assert not [m for m in easel.discord.messages if m.attachments]
        assert fake.submits[0]["censor_nsfw"] is True and fake.submits[0]["nsfw"] is False


async def test_in_an_age_restricted_channel_the_horde_is_asked_for_nsfw_workers(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False, safety={"nsfw_check": "spoiler"}) as (easel, fake):
        await easel.draw(channel=NSFW_CHANNEL, prompt="a nsfwword fox")
        result = await easel.result_for(ALICE, channel=NSFW_CHANNEL)
        assert result.attachments and (fake.submits[0]["nsfw"], fake.submits[0]["censor_nsfw"]) == (True, False)


async def test_kudos_upfront_tells_the_user_what_to_change(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False) as (easel, fake):
        fake.fail_next("async", 403, "KudosUpfront", "needs kudos")
        inter = await easel.draw(width=1024, height=1024, steps=50)
        text = await easel.wait_reply(inter, lambda t: "failed" in t, timeout=15)
        assert "smaller size or fewer steps" in text


async def test_a_horde_refusal_falls_back_to_the_local_webui(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=True, horde={"mode": "overflow"}) as (easel, fake):
        fake.fail_next("async", 403, "KudosUpfront", "needs kudos")
        await easel.webui.down()  # every local backend down: the job overflows to the Horde, which refuses it
        await easel.draw()
        await fake.wait_for(lambda: any(s == 403 for _, s in fake.responses), timeout=10)
        await easel.webui.up()
        result = await easel.result_for(ALICE, timeout=15)
        assert result.attachments and len(easel.webui.generations) == 1 and fake.submits == []


async def test_a_faulted_request_fails_with_a_reason(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False) as (easel, fake):
        fake.fault_next()
        inter = await easel.draw()
        text = await easel.wait_reply(inter, lambda t: "failed" in t, timeout=15)
        assert "gave up on this request" in text
        assert not [m for m in easel.discord.messages if m.attachments]


async def test_no_worker_for_the_model_says_so(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False) as (easel, fake):
        fake.set_workers([])  # the last worker serving it left after the model list was fetched
        inter = await easel.draw(model="stable_diffusion")
        text = await easel.wait_reply(inter, lambda t: "failed" in t, timeout=15)
        assert "No AI Horde worker can draw this now (model stable_diffusion)" in text
        assert next(iter(fake.requests.values())).cancelled  # not left to expire at the Horde


async def test_a_model_only_the_horde_has_fails_clearly_where_the_horde_is_off(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=True, horde={"mode": "off"}) as (easel, fake):
        inter = await easel.draw(model="AlbedoBase XL (SDXL)")
        text = await easel.wait_reply(inter, lambda t: "failed" in t, timeout=15)
        assert "only on the AI Horde" in text and "/settings set horde" in text
        assert fake.submits == [] and easel.webui.generations == []


async def test_a_wrong_key_keeps_the_horde_down_and_says_why(tmp_path: Path) -> None:
    async with FakeHorde(keys={"right": 1.0}) as fake, running_easel(tmp_path, start=False) as easel:
        backends = [{"name": "gpu0", "url": easel.webui.url}, horde_table(fake, api_key="wrong")]
        cfg = make_config(backends, tmp_path / "easel.db", preset=E2E, horde={"mode": "overflow"})
        await easel.start_bot(cfg, wait_backends=False)
        assert easel.bot is not None
        horde = easel.bot.queue.backends["horde"]
        async with asyncio.timeout(10):
            while horde.last_error is None:
                await easel.bot.queue.wait_changed()
        assert not horde.up and "HTTP 401" in (horde.last_error or "")
        await easel.draw()
        result = await easel.result_for(ALICE)  # the local webui draws it
        assert result.attachments and fake.submits == []


async def test_429_keeps_the_job_and_it_is_drawn_later(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False) as (easel, fake):
        fake.fail_next("async", 429, "TooManyPrompts", headers={"Retry-After": "0.3"}, times=2)
        await easel.draw()
        result = await easel.result_for(ALICE, timeout=15)
        assert result.attachments and len(fake.submits) == 1


async def test_maintenance_then_back(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False, webui={"max_attempts": 5}) as (easel, fake):
        fake.maintenance = True
        await easel.draw()
        await fake.wait_for(lambda: any(s == 400 for _, s in fake.responses), timeout=10)
        fake.maintenance = False
        result = await easel.result_for(ALICE, timeout=20)
        assert result.attachments and len(fake.submits) == 1


async def test_cancel_deletes_the_horde_request(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False, fake_kw={"workers": [("slow", 30.0)]}) as (easel, fake):
        inter = await easel.draw()
        await fake.wait_for(lambda: len(fake.requests) == 1, timeout=10)
        job_id = next(iter(easel.bot.queue._running))  # type: ignore[union-attr]
        cancel = await easel.discord.invoke(
            "cancel", {"job": job_id}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        await cancel.wait_response(5)
        await fake.wait_for(lambda: next(iter(fake.requests.values())).cancelled, timeout=5)
        await easel.wait_reply(inter, lambda t: "ancel" in t, timeout=10)
        assert not [m for m in easel.discord.messages if m.attachments]


async def test_the_picture_size_shows_in_the_result(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False) as (easel, fake):
        await easel.draw(width=680, height=384)
        result = await easel.result_for(ALICE)
        with Image.open(io.BytesIO(result.attachments[0].data)) as img:
            assert img.size == (704, 384)  # the Horde's multiples of 64
        assert fake.submits[0]["params"]["width"] == 704


def horde_config_file(path: Path, horde: FakeHorde, db: Path) -> None:
    path.write_text(
        f"""
[discord]
token = "test-token"
guild_ids = [{GUILD}]

[[backends]]
kind = "horde"
name = "horde"
url = "{horde.url}"
api_key = "test-key"
poll_interval = 0.1

[horde]
mode = "only"

[queue]
status_interval = 0.2
shutdown_grace = 0.5

[storage]
path = "{db}"
"""
    )


@pytest.mark.parametrize("expired", [False, True])
async def test_a_restart_resumes_the_horde_request_instead_of_sending_it_again(tmp_path: Path, expired: bool) -> None:
    discord_fake = make_discord()
    async with FakeHorde(workers=[("slow", 4.0)]) as horde:
        await discord_fake.start()
        config = tmp_path / "config.toml"
        horde_config_file(config, horde, tmp_path / "easel.db")
        proc = BotProcess(discord_fake, config, tmp_path / "bot.log")
        try:
            await proc.start()
            inter = await discord_fake.invoke(
                "draw", {"prompt": "a fox"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
            )
            await inter.wait_response(5)
            await horde.wait_for(lambda: len(horde.requests) == 1, timeout=15)
            (rid,) = horde.requests
            # the id is stored before the first check: once the Horde saw one, a restart can find the request
            await horde.wait_for(lambda: horde.requests[rid].check_calls >= 1, timeout=10)
            assert await proc.signal(signal.SIGKILL) == -signal.SIGKILL
            if expired:
                horde.forget(rid)  # the Horde dropped it while Easel was down
            await proc.start()
            await discord_fake._wait_for(lambda: True if results(discord_fake) else None, 30, "the result")
            with pytest.raises(TimeoutError):  # and no second post follows
                await discord_fake._wait_for(lambda: True if len(results(discord_fake)) > 1 else None, 1.0, "2")
            assert len(horde.submits) == (2 if expired else 1)  # sent again only when the first was gone
            assert horde.validation_errors == []
        finally:
            await proc.ensure_dead()
            await discord_fake.stop()


async def test_status_shows_the_hordes_state(tmp_path: Path) -> None:
    fake_kw = {"keys": {"test-key": 2500.0}, "worker_models": {"fake-worker-1": ["stable_diffusion"]}}
    async with with_horde(tmp_path, local=True, fake_kw=fake_kw) as (easel, fake):
        inter = await easel.discord.invoke("status", None, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        text = str((await inter.wait_response(5))["data"]["content"])
        assert "**horde** (AI Horde): up, 2,500 kudos, 0 request(s) in flight; models: stable\\_diffusion" in text
        await fake.stop()  # the Horde out of reach: the next probe says so
        easel.bot.queue.backends["horde"].up = False  # type: ignore[union-attr]
        inter = await easel.discord.invoke("status", None, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        assert "**horde** (AI Horde): not reachable" in str((await inter.wait_response(5))["data"]["content"])
        await fake.start()


async def test_queue_shows_the_place_in_the_hordes_own_line(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=False, fake_kw={"workers": [("slow", 30.0)]}) as (easel, fake):
        await easel.draw(user=ALICE, prompt="first")
        await fake.wait_for(lambda: any(r.processing for r in fake.requests.values()), timeout=10)
        second = await easel.draw(user=BOB, prompt="second")
        await fake.wait_for(lambda: len(fake.requests) == 2, timeout=10)
        assert easel.bot is not None
        async with asyncio.timeout(10):
            while not any(p.queued for p in easel.bot.queue.horde_progress.values()):
                await easel.bot.queue.wait_changed()
        inter = await easel.discord.invoke("queue", None, user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
        text = str((await inter.wait_response(5))["data"]["content"])
        assert "waiting on **horde**, next in its line, about 30" in text  # the first one is being drawn
        # The reply says where the job waits, not "Drawing … 0 %"
        reply = await easel.wait_reply(second, lambda t: "line" in t)
        assert "is next in **horde**'s line, about 30" in reply and "0%" not in reply


async def test_image_info_and_draw_this_again_on_a_horde_result_redraw_it_locally(tmp_path: Path) -> None:
    async with with_horde(tmp_path, local=True, horde={"mode": "off"}) as (easel, fake):
        assert easel.bot is not None
        await easel.bot.policy.store.set_setting("guild", GUILD, "horde", "only")  # as /settings set horde does
        easel.bot.policy.invalidate(GUILD)
        await easel.draw(prompt="a castle on a hill", negative_prompt="blurry", seed=4242, steps=18, scheduler="Karras")
        result = await easel.result_for(ALICE)
        assert len(fake.submits) == 1
        await easel.bot.policy.store.reset_settings("guild", GUILD, "horde")  # back to off: local only
        easel.bot.policy.invalidate(GUILD)
        menu = await easel.discord.context_menu("Image info", result, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await menu.wait_response(5)
        info = await easel.discord.wait_for_message(
            lambda m: menu.original is not None and m.id == menu.original.id and bool(m.embeds), timeout=5
        )
        assert "Seed: 4242" in info.embeds[0]["description"] and "Horde worker" in info.embeds[0]["description"]
        again_id = next(c for c in info.all_custom_ids() if c.startswith("easel:again:"))
        again = await easel.discord.click(info, again_id, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await again.wait_response(5)
        await easel.discord.wait_for_message(
            lambda m: m.kind == "channel" and bool(m.attachments) and m.id != result.id, timeout=15
        )
        payload = easel.webui.generations[-1]
        assert (payload["prompt"], payload["negative_prompt"], payload["seed"], payload["steps"]) == (
            "a castle on a hill",
            "blurry",
            4242,
            18,
        )
        assert payload["sampler_name"] == "Euler a" and payload.get("scheduler") == "Karras"
        assert len(fake.submits) == 1
