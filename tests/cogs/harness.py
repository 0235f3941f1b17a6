"""End-to-end harness: the real EaselBot (discord.py + aiohttp) against the loopback Discord and webui fakes.

Only ``discord.http.Route.BASE`` is pointed at the fake. The bot is an AutoShardedBot, which asks
``GET /gateway/bot`` for the gateway address like any large bot does, so nothing else is redirected.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
from PIL import Image

from bot import EaselBot
from easel.config import Config
from easel.safety.images import Classifier
from tests.fakes.discord_fake import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import make_config

GUILD = 111111111111111111
CHANNEL = 222222222222222222
NSFW_CHANNEL = 222222222222222223
ALICE = 333333333333333331
BOB = 333333333333333332
MOD = 333333333333333339
MOD_ROLE = 444444444444444441


def png(width: int = 64, height: int = 64, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


E2E: dict[str, Any] = {
    "discord": {"token": "test-token", "guild_ids": [GUILD], "moderator_role_ids": [MOD_ROLE]},
    "webui": {"read_timeout": 5.0, "connect_timeout": 1.0, "probe_max_interval": 0.5},
    "queue": {"status_interval": 0.2},
}
"""The sections every e2e config starts from: ``make_config(urls, db, preset=E2E, **sections)``."""


def make_discord() -> FakeDiscord:
    fake = FakeDiscord()
    fake.add_guild(GUILD, name="Test server")
    fake.add_channel(GUILD, CHANNEL, name="general")
    fake.add_channel(GUILD, NSFW_CHANNEL, name="after-dark", nsfw=True)
    fake.add_role(GUILD, MOD_ROLE, name="Mods", permissions=0)
    fake.add_member(GUILD, ALICE, name="alice")
    fake.add_member(GUILD, BOB, name="bob")
    fake.add_member(GUILD, MOD, name="mod", roles=[MOD_ROLE])
    return fake


@dataclass
class Easel:
    discord: FakeDiscord
    webui: FakeWebui
    config: Config
    bot: EaselBot | None = None
    classifier: Classifier | None = None  # handed to every EaselBot started (None: the bot builds its own)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start_bot(
        self,
        config: Config | None = None,
        timeout: float = 15,  # noqa: ASYNC109
        *,
        wait_backends: bool = True,
    ) -> EaselBot:
        if config is not None:
            self.config = config
        bot = EaselBot(self.config, shutdown_grace=0.0, guild_ready_timeout=0.05, classifier=self.classifier)
        discord.http.Route.BASE = self.discord.api_base
        self._task = asyncio.create_task(bot.start(self.config.discord.token))
        async with asyncio.timeout(timeout):
            waiter = asyncio.create_task(bot.wait_until_ready())
            done, _ = await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if self._task in done:
                waiter.cancel()
                self._task.result()
                raise RuntimeError("the bot stopped before becoming ready")
        self.bot = bot
        if wait_backends:
            await self.wait_backends_up()
        return bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self._task
        self.bot, self._task = None, None

    async def wait_backends_up(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        assert self.bot is not None
        queue = self.bot.queue
        async with asyncio.timeout(timeout):
            while not all(b.up for b in queue.backends.values()):
                await queue.wait_changed()

    async def draw(self, user: int = ALICE, channel: int = CHANNEL, **options: Any) -> FakeInteraction:
        options.setdefault("prompt", "a red fox in the snow")
        inter = await self.discord.invoke("draw", options, user_id=user, guild_id=GUILD, channel_id=channel)
        await inter.wait_response(5)
        return inter

    async def result_for(self, user: int, *, timeout: float = 15, channel: int = CHANNEL) -> FakeMessage:  # noqa: ASYNC109
        return await self.discord.wait_for_message(
            lambda m: (
                m.channel_id == channel
                and m.kind == "channel"
                and bool(m.attachments)
                and m.content.startswith(f"<@{user}>")
            ),
            timeout=timeout,
        )

    async def wait_reply(
        self,
        inter: FakeInteraction,
        predicate: Callable[[str], bool],
        timeout: float = 10,  # noqa: ASYNC109
    ) -> str:
        """Until the interaction's @original message text satisfies ``predicate``."""
        msg = await self.discord.wait_for_message(
            lambda m: inter.original is not None and m.id == inter.original.id and predicate(m.content),
            timeout=timeout,
        )
        return msg.content


@contextlib.asynccontextmanager
async def running_easel(
    tmp_path: Path,
    *,
    start: bool = True,
    flavor: str = "a1111",
    classifier: Classifier | None = None,
    **sections: Any,
) -> AsyncIterator[Easel]:
    """The real bot against fresh fakes; ``flavor``: which webui the fake plays (a1111, forge, sdnext);
    ``classifier``: the image check the bot uses (e.g. a StaticClassifier; None: the bot's own)."""
    old_base = discord.http.Route.BASE
    webui = FakeWebui(flavor=flavor)
    fake = make_discord()
    await webui.start()
    await fake.start()
    easel = Easel(
        fake, webui, make_config([webui.url], tmp_path / "easel.db", preset=E2E, **sections), classifier=classifier
    )
    try:
        if start:
            await easel.start_bot()
        yield easel
        # Whatever the test checked, the bot never sent Discord or the webui a request off their specs.
        assert fake.validation_errors == [], fake.validation_errors
        assert webui.validation_errors == [], webui.validation_errors
        assert webui.options_posts == []  # and never switched the model globally
    finally:
        await easel.stop_bot()
        await fake.stop()
        await webui.stop()
        discord.http.Route.BASE = old_base


def write_config_file(path: Path, webui_url: str, db: Path) -> None:
    """A config.toml for the real bot in a child process (tests/cogs/run_bot.py) against the fakes."""
    path.write_text(
        f"""
[discord]
token = "test-token"
guild_ids = [{GUILD}]

[[backends]]
name = "gpu0"
url = "{webui_url}"

[webui]
connect_timeout = 1.0
read_timeout = 30.0
probe_max_interval = 0.5

[queue]
status_interval = 0.2
shutdown_grace = 0.5

[storage]
path = "{db}"

[logging]
level = "INFO"
"""
    )
