"""Self-test of the loopback Discord fake: a real discord.py bot logs into it and is driven like a user would."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_fake import NONCE_TTL, FakeAttachment, FakeDiscord, MiB, resolve_mentions, run_client

GUILD = 111_111_111_111_111_111
CHANNEL = 222_222_222_222_222_222
NSFW_CHANNEL = 222_222_222_222_222_223
USER = 333_333_333_333_333_333
OTHER = 333_333_333_333_333_334
ROLE = 444_444_444_444_444_444


class PingView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Again", custom_id="ping:again", style=discord.ButtonStyle.primary)
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message(f"clicked by {interaction.user.id}", ephemeral=True)

    @discord.ui.button(label="Rename", custom_id="ping:rename", style=discord.ButtonStyle.secondary)
    async def rename(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(RenameModal())


class RenameModal(discord.ui.Modal, title="Rename"):
    name: discord.ui.TextInput = discord.ui.TextInput(label="New name", custom_id="rename:name", max_length=20)

    def __init__(self) -> None:
        super().__init__(custom_id="rename")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"renamed to {self.name.value}")


class FakeBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
            help_command=None,
        )
        self.seen: list[discord.Interaction] = []
        self.flavours = ["vanilla", "chocolate", "strawberry"]

        @self.tree.command(name="ping", description="Ping the bot")
        @app_commands.describe(n="a number", image="an image")
        async def ping(interaction: discord.Interaction, n: int, image: discord.Attachment | None = None) -> None:
            data = await image.read() if image is not None else b""
            await interaction.response.send_message(
                f"pong {n} {len(data)} {image.content_type if image else ''}", view=PingView()
            )

        @self.tree.command(name="slow", description="Defers, answers later")
        async def slow(interaction: discord.Interaction, private: bool = False) -> None:
            self.seen.append(interaction)
            await interaction.response.defer(ephemeral=private, thinking=True)

        @self.tree.command(name="flavour", description="Pick a flavour")
        async def flavour(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"you picked {name}")

        @flavour.autocomplete("name")
        async def flavour_ac(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f, value=f) for f in self.flavours if current in f]

    async def setup_hook(self) -> None:
        self.add_view(PingView())
        self.tree.copy_global_to(guild=discord.Object(GUILD))


def _world(**kwargs: Any) -> FakeDiscord:
    fake = FakeDiscord(**kwargs)
    fake.add_guild(GUILD, name="Test Guild", premium_tier=0)
    fake.add_channel(GUILD, CHANNEL, name="general")
    fake.add_channel(GUILD, NSFW_CHANNEL, name="lewd", nsfw=True)
    fake.add_role(GUILD, ROLE, name="artists")
    fake.add_member(GUILD, USER, name="alice", roles=[ROLE])
    fake.add_member(GUILD, OTHER, name="bob")
    return fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = _world()
    async with asyncio.timeout(5):
        await fake.start()
    try:
        yield fake
    finally:
        async with asyncio.timeout(5):
            await fake.stop()


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[FakeBot]:
    bot = FakeBot()
    async with run_client(fake, bot, timeout=10):
        async with asyncio.timeout(5):
            await bot.tree.sync(guild=discord.Object(GUILD))
        yield bot


async def test_login_builds_guild_state(fake: FakeDiscord, bot: FakeBot) -> None:
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.name == "Test Guild"
    assert guild.filesize_limit == 10 * MiB
    general = guild.get_channel(CHANNEL)
    lewd = guild.get_channel(NSFW_CHANNEL)
    assert isinstance(general, discord.TextChannel) and not general.is_nsfw()
    assert isinstance(lewd, discord.TextChannel) and lewd.is_nsfw()
    assert guild.me is not None and guild.me.id == fake.bot_user_id
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert [c["name"] for c in fake.registered_commands(GUILD)] == ["ping", "slow", "flavour"]
    assert discord.http.Route.BASE == fake.api_base


async def test_command_button_and_modal(fake: FakeDiscord, bot: FakeBot) -> None:
    image = FakeAttachment("cat.png", b"\x89PNG1234", content_type="image/png")
    inter = await fake.invoke("ping", {"n": 3, "image": image}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL)
    response = await inter.wait_response()
    assert response["type"] == 4
    assert inter.original is not None
    assert inter.original.content == "pong 3 8 image/png"
    assert not inter.ephemeral
    assert inter.response_latency is not None and inter.response_latency < 3
    assert inter.original.all_custom_ids() == ["ping:again", "ping:rename"]

    click = await fake.click(inter.original, "ping:again", user_id=OTHER, guild_id=GUILD)
    await click.wait_response()
    assert click.ephemeral and click.original is not None
    assert click.original.content == f"clicked by {OTHER}"

    rename = await fake.click(inter.original, "ping:rename", user_id=USER, guild_id=GUILD)
    assert (await rename.wait_response())["type"] == 9
    with pytest.raises(ValueError, match="longer than max_length"):
        await fake.submit_modal(
            rename, "rename", {"rename:name": "x" * 30}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL
        )
    submit = await fake.submit_modal(
        rename, "rename", {"rename:name": "Bob"}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL
    )
    assert (await submit.wait_response())["type"] == 7
    assert inter.original.content == "renamed to Bob" and inter.original.edits == 1

    choices = await fake.autocomplete(
        "flavour", {"name": "an"}, "name", user_id=USER, guild_id=GUILD, channel_id=CHANNEL
    )
    assert [c["value"] for c in choices] == ["vanilla"]

    with pytest.raises(ValueError, match="required options missing"):
        await fake.invoke("ping", {}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL)
    assert fake.validation_errors == []
    assert fake.internal_errors == [] and fake.unhandled == []


async def test_defer_followup_and_token_expiry(fake: FakeDiscord, bot: FakeBot) -> None:
    inter = await fake.invoke("slow", {"private": True}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL)
    assert (await inter.wait_response())["type"] == 5
    assert inter.original is not None and inter.original.loading and inter.ephemeral
    bot_inter = bot.seen[-1]
    sent = await bot_inter.followup.send("done!", wait=True)
    # the first followup after a thinking defer completes the loading message, keeping its ephemerality
    assert sent.id == inter.original.id
    assert inter.original.content == "done!" and not inter.original.loading and inter.original.ephemeral
    second = await bot_inter.followup.send("more", wait=True)
    assert second.id != inter.original.id and len(inter.followups) == 2

    # a second callback for the same interaction (discord.py itself refuses, so go through raw HTTP)
    async with aiohttp.ClientSession() as session:
        url = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
        async with session.post(url, json={"type": 5}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 40060

    fake.expire_token(inter)
    with pytest.raises(discord.HTTPException) as exc:
        await bot_inter.followup.send("too late")
    assert exc.value.status == 401 and exc.value.code == 50027
    with pytest.raises(discord.HTTPException) as exc:
        await bot_inter.edit_original_response(content="too late")
    assert exc.value.code == 50027


async def test_channel_limits_nonce_mentions_and_429(fake: FakeDiscord, bot: FakeBot) -> None:
    channel = bot.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)

    big = discord.File(io.BytesIO(b"\0" * (10 * MiB + 1)), "big.png")
    with pytest.raises(discord.HTTPException) as exc:
        await channel.send(file=big)
    assert exc.value.status == 413 and exc.value.code == 40005

    with pytest.raises(discord.HTTPException) as exc:
        await channel.send("x" * 2001)
    assert exc.value.status == 400 and exc.value.code == 50035
    assert [e["location"] for e in fake.validation_errors] == ["content"]
    fake.validation_errors.clear()

    first = await channel.send("once", nonce=12345)
    second = await channel.send("once", nonce=12345)
    assert first.id == second.id
    assert [m.content for m in fake.channel_messages(CHANNEL)] == ["once"]

    loud = await channel.send(f"@everyone <@{USER}> <@&{ROLE}> look")
    fm = fake.get_message(loud.id)
    assert fm is not None and fm.allowed_mentions == {"parse": []}
    assert not fm.pings_everyone and fm.mentions_resolved == set() and fm.pings_roles == set()
    pinged = await channel.send(
        f"<@{USER}> <@{OTHER}> done", allowed_mentions=discord.AllowedMentions(users=[discord.Object(USER)])
    )
    assert fake.get_message(pinged.id).mentions_resolved == {USER}  # type: ignore[union-attr]
    assert resolve_mentions("@here", None) == (set(), set(), True)

    fake.fail_next("POST", rf"^/channels/{CHANNEL}/messages$", 429, {"retry_after": 0.05})
    after = await channel.send("after a 429")
    statuses = [r.status for r in fake.requests if r.method == "POST" and r.path == f"/channels/{CHANNEL}/messages"]
    assert statuses[-2:] == [429, 200]
    assert (await fake.wait_for_message(lambda m: m.id == after.id, timeout=1)).content == "after a 429"

    edited = await after.edit(content="edited")
    assert fake.get_message(edited.id).edits == 1  # type: ignore[union-attr]
    await after.delete()
    assert fake.get_message(after.id).deleted  # type: ignore[union-attr]
    with pytest.raises(TimeoutError, match="no message matched"):
        await fake.wait_for_message(lambda m: m.content == "never", timeout=0.05)
    assert fake.validation_errors == [] and fake.internal_errors == []


class ManualClock:
    """A monotonic clock the test moves forward by hand (no sleeping through Discord's nonce window)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_nonce_is_remembered_only_for_nonce_ttl() -> None:
    clock = ManualClock()
    fake = _world(nonce_ttl=60.0, clock=clock)
    bot = FakeBot()
    async with fake, run_client(fake, bot, timeout=10):
        channel = bot.get_channel(CHANNEL)
        other = bot.get_channel(NSFW_CHANNEL)
        assert isinstance(channel, discord.TextChannel) and isinstance(other, discord.TextChannel)
        first = await channel.send("result", nonce="job-1")
        clock.now += 59.9
        retry = await channel.send("result", nonce="job-1")
        assert retry.id == first.id  # within the window: Discord hands back the first message
        elsewhere = await other.send("result", nonce="job-1")
        assert elsewhere.id != first.id  # a nonce is remembered per channel
        clock.now += 0.1  # 60 s after the first post: forgotten
        late = await channel.send("result", nonce="job-1")
        assert late.id != first.id
        assert [m.content for m in fake.channel_messages(CHANNEL)] == ["result", "result"]
        # the late post starts a new window of its own
        clock.now += 30
        assert (await channel.send("result", nonce="job-1")).id == late.id
        assert fake.validation_errors == [] and fake.internal_errors == []


async def test_nonce_ttl_defaults_to_five_minutes_and_none_never_forgets() -> None:
    assert FakeDiscord().nonce_ttl == NONCE_TTL == 300.0
    clock = ManualClock()
    fake = _world(nonce_ttl=None, clock=clock)
    bot = FakeBot()
    async with fake, run_client(fake, bot, timeout=10):
        channel = bot.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        first = await channel.send("result", nonce=777)
        clock.now += 24 * 3600
        assert (await channel.send("result", nonce=777)).id == first.id
        assert len(fake.channel_messages(CHANNEL)) == 1


async def test_restart_keeps_state_and_persistent_button(fake: FakeDiscord) -> None:
    first = FakeBot()
    async with run_client(fake, first, timeout=10):
        await first.tree.sync(guild=discord.Object(GUILD))
        inter = await fake.invoke("ping", {"n": 1}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL)
        await inter.wait_response()
    assert discord.http.Route.BASE == "https://discord.com/api/v10"

    second = FakeBot()
    async with run_client(fake, second, timeout=10):
        assert fake.identify_count == 2
        assert inter.original is not None
        click = await fake.click(inter.original, "ping:again", user_id=USER, guild_id=GUILD)
        await click.wait_response()
        assert click.original is not None and click.original.content == f"clicked by {USER}"
        # a dropped connection is RESUMEd (no new IDENTIFY), and interactions keep flowing
        await fake.drop_connection(4000)
        await asyncio.wait_for(_resumed(fake), timeout=5)
        assert fake.identify_count == 2
        # commands registered by the first run are still there without a new sync
        again = await fake.invoke("ping", {"n": 2}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL)
        await again.wait_response()
        assert again.original is not None and again.original.content.startswith("pong 2")
    assert fake.validation_errors == []


async def _resumed(fake: FakeDiscord) -> None:
    await fake.wait_until(lambda: any(p.get("op") == 6 for p in fake.gateway_received), 5, "RESUME")
    await fake.wait_connected(5)


async def test_commit_failure_does_the_work_then_answers_the_error(fake: FakeDiscord, bot: FakeBot) -> None:
    channel = bot.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    route = rf"^/channels/{CHANNEL}/messages$"
    # the message went through, the answer was a 503: a retry without a nonce posts it a second time...
    fake.fail_next("POST", route, 503, {"message": "503: Service Unavailable", "code": 0}, commit=True)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("plain")
    await channel.send("plain")
    assert [m.content for m in fake.channel_messages(CHANNEL)] == ["plain", "plain"]
    # ...and with one it gets the first message back
    fake.fail_next("POST", route, 503, {"message": "503: Service Unavailable", "code": 0}, commit=True)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("keyed", nonce="k1")
    again = await channel.send("keyed", nonce="k1")
    assert [m.id for m in fake.channel_messages(CHANNEL) if m.content == "keyed"] == [again.id]


async def test_unresumable_drop_makes_the_bot_identify_again(fake: FakeDiscord, bot: FakeBot) -> None:
    identifies = fake.identify_count
    await fake.drop_connection(4000, resumable=False)
    await fake.wait_until(lambda: fake.identify_count > identifies, 15, "a new IDENTIFY")
    await fake.wait_connected(5)
    resume_attempts = [p for p in fake.gateway_received if p.get("op") == 6]
    assert resume_attempts, "the bot tried to RESUME first"
    inter = await fake.invoke("ping", {"n": 5}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response()
    assert inter.original is not None and inter.original.content.startswith("pong 5")
