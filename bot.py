"""Easel entry point: read the config, build the bot, run it.

python bot.py [run|check|setup] [--config config.toml]

Without ``--config``, ``config.toml`` in the working directory is used when it exists, and the defaults otherwise
(the token from ``DISCORD_TOKEN``, one webui at ``EASEL_WEBUI_URL`` or ``http://127.0.0.1:7860``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from cogs.utils.errors import on_app_command_error
from cogs.utils.notices import DiscordNotifier
from cogs.utils.publisher import DiscordPublisher
from cogs.utils.translator import EaselTranslator, EaselTree
from easel.admission import Admission
from easel.backends.factory import make_client
from easel.catalog import Catalog
from easel.config import DEFAULT_CONFIG_PATH, Config, ConfigError, HordeMode, load_config
from easel.i18n import _
from easel.images import fit_init_image
from easel.logs import setup_logging
from easel.metrics import MetricsServer
from easel.policy import PolicyService
from easel.queue import Backend, JobQueue
from easel.safety.images import Classifier, load_classifier
from easel.store import Store, StoreError

log = logging.getLogger("easel")

EXTENSIONS = ("cogs.draw", "cogs.queue", "cogs.results", "cogs.info", "cogs.settings", "cogs.tools", "cogs.presets")


class EaselBot(commands.AutoShardedBot):
    """The bot: owns the HTTP session, the store, the catalog and the queue; cogs reach them from here."""

    store: Store
    policy: PolicyService
    admission: Admission
    catalog: Catalog
    queue: JobQueue
    publisher: DiscordPublisher
    notifier: DiscordNotifier
    webui_session: aiohttp.ClientSession
    classifier: Classifier | None  # the image check (None: NudeNet missing; only the channel policy applies)

    def __init__(
        self,
        config: Config,
        *,
        shutdown_grace: float | None = None,
        classifier: Classifier | None = None,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            tree_cls=EaselTree,  # answers in the member's language (cogs.utils.translator)
            # Nothing a user typed can ping anyone; the result message mentions its requester explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.tree.error(on_app_command_error)  # buttons and modals: cogs.utils.errors.guarded
        self.config = config
        self.shutdown_grace = config.queue.shutdown_grace if shutdown_grace is None else shutdown_grace
        self._classifier_override = classifier  # tests: a StaticClassifier

    def _make_classifier(self) -> Classifier | None:
        """The image check, built once; NudeNet's model loads at its first picture, not here."""
        if self._classifier_override is not None:
            return self._classifier_override
        loaded = load_classifier(self.config)
        if loaded.classifier is None:
            if self.config.safety.nsfw_check != "off":
                log.warning(
                    "image check: [safety] nsfw_check = %r but %s; until then only the channel policy (nsfw) applies",
                    str(self.config.safety.nsfw_check),
                    loaded.reason,
                )
            else:
                log.info(
                    "image check unavailable (%s); servers that set nsfw_check get the channel policy", loaded.reason
                )
        return loaded.classifier

    async def _horde_mode(self, guild_id: int | None) -> HordeMode:
        return (await self.policy.for_draw(guild_id, None)).horde

    async def setup_hook(self) -> None:
        cfg = self.config
        await self.tree.set_translator(EaselTranslator())  # descriptions and choices in every shipped language
        self.webui_session = aiohttp.ClientSession()
        self.store = await Store.open(cfg.storage.path)
        self.policy = PolicyService(self.store, cfg)
        self.catalog = Catalog()
        backends = [Backend(b, make_client(b, cfg, self.webui_session)) for b in cfg.backends]
        self.notifier = DiscordNotifier(self)  # tells a server's admins (easel.safety.Notifier)
        self.publisher = DiscordPublisher(self)
        self.queue = JobQueue(cfg, self.store, self.catalog, backends, self.publisher)
        self.queue.horde_policy = self._horde_mode  # /settings horde, else [horde] mode
        self.classifier = self._make_classifier()
        self.admission = Admission(
            self.policy,
            self.queue,
            self.catalog,
            fit_init_image=fit_init_image,
            notifier=self.notifier,
            classifier=self.classifier,
        )
        self.metrics_server: MetricsServer | None = None
        if cfg.metrics.enabled:
            self.metrics_server = MetricsServer.from_config(self.queue, cfg.metrics)
            await self.metrics_server.start()  # a taken port fails the start loudly
        for ext in EXTENSIONS:
            await self.load_extension(ext)
        await self.sync_commands()
        await self.queue.start()

    async def sync_commands(self) -> None:
        """To the configured guilds (instant, for development), or globally (may take up to an hour)."""
        if self.config.discord.guild_ids:
            for guild_id in self.config.discord.guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("registered %d commands in guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("registered %d global commands", len(synced))

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) in %d guilds", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def close(self) -> None:
        queue = getattr(self, "queue", None)
        if queue is not None:
            await queue.stop(self.shutdown_grace)
        await super().close()
        metrics_server = getattr(self, "metrics_server", None)
        if metrics_server is not None:
            await metrics_server.stop()
        store = getattr(self, "store", None)
        if store is not None:
            await store.close()
        session = getattr(self, "webui_session", None)
        if session is not None:
            await session.close()


async def run(config: Config) -> int:
    bot = EaselBot(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # Windows
            pass
    runner = asyncio.create_task(bot.start(config.discord.token))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        log.info("shutting down: waiting up to %.0f s for running jobs", bot.shutdown_grace)
        await bot.close()
        await asyncio.gather(runner, return_exceptions=True)
        return 0
    stopper.cancel()
    try:
        runner.result()
    except discord.LoginFailure:
        log.error("Discord refused the token: check DISCORD_TOKEN or [discord] token (Bot tab of the application)")
        await bot.close()
        return 2
    except StoreError as exc:  # not a database, locked by another program, or another Easel uses it
        print(f"easel: {exc}", file=sys.stderr)
        await bot.close()
        return 2
    except aiohttp.ClientConnectionError as exc:  # no route, DNS, a proxy: one line, not a traceback
        print(f"easel: cannot reach Discord ({exc}): check this host's internet access, DNS or proxy", file=sys.stderr)
        await bot.close()
        return 2
    return 0


def no_token_line(config_path: Path, file_exists: bool) -> str:
    """What to say when there is no token: how to give one, in one line."""
    if file_exists:
        return _(
            "easel: no Discord token: set DISCORD_TOKEN or [discord] token in {path}, or run ./start.sh setup"
        ).format(path=config_path)
    return _("easel: no Discord token: run ./start.sh setup (asks for it, writes config.toml) or set DISCORD_TOKEN")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot.py", description="Easel: Stable Diffusion for your Discord server")
    parser.add_argument(
        "command",
        nargs="?",
        choices=("run", "check", "setup"),
        default="run",
        help="run: start the bot (default); check: try the config, the webuis and the Discord token, then exit; "
        "setup: ask for the token and the webui, try them and write the config file",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"config file (default: {DEFAULT_CONFIG_PATH} if it exists, else the defaults and the environment)",
    )
    args = parser.parse_args(argv)
    path: Path = args.config or Path(DEFAULT_CONFIG_PATH)
    if args.command == "setup":
        from easel import setup

        return setup.main(path)
    try:
        config = load_config(path, missing_ok=args.config is None)
    except ConfigError as exc:
        print(f"easel: config error: {exc}", file=sys.stderr)
        return 2
    file_exists = path.is_file()
    if args.command == "check":
        from easel import check

        level = "DEBUG" if config.logging.level.upper() == "DEBUG" else "WARNING"  # keep log lines out of the report
        setup_logging(dataclasses.replace(config.logging, level=level))
        return check.main(config)
    if not config.discord.token:
        print(no_token_line(path, file_exists), file=sys.stderr)
        return 2
    setup_logging(config.logging)
    if not file_exists:
        log.info(
            "no %s: running on the defaults (webui %s, database %s); ./start.sh setup writes a config file",
            path,
            ", ".join(b.url for b in config.backends),
            config.storage.path,
        )
    return asyncio.run(run(config))


if __name__ == "__main__":
    sys.exit(main())
