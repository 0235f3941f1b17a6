"""``python bot.py check``: try everything Easel needs before it runs, and say how to fix what fails.

The report has one line per finding, each starting with ``OK``, ``WARN`` or ``FAIL``; a problem's line names the
fix. The exit status is 0 only when nothing FAILed. A missing Discord token is a WARN (the check is also useful
before the bot application exists), but the line says the bot cannot start without one.

What is tried:

- the config (already parsed by the caller: a bad file never gets here) and the SQLite file's directory;
- every backend: which webui it is (A1111, Forge, SD.Next), its models and samplers, the configured defaults
  against them, and a 1-step 64x64 test image;
- the optional image check (``[safety] nsfw_check``): NudeNet loads and runs on a tiny synthetic picture, timed,
  or the line says how to install it;
- Discord, when a token is set: ``GET /users/@me`` and ``GET /oauth2/applications/@me`` with the bot token, and
  the invite URL with the permissions Easel needs.

Nothing here imports discord.py; the token is sent only in the ``Authorization`` header and never printed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

import aiohttp

from easel.backends.base import BackendDescription, Capability
from easel.backends.horde.client import HordeAuthError
from easel.backends.horde.client import from_config as horde_client
from easel.backends.webui import (
    Flavor,
    ModelInfo,
    WebuiAuthError,
    WebuiClient,
    WebuiError,
    WebuiNotFound,
    WebuiRequestError,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
    safe_url,
    scrub_credentials,
    url_credentials,
)
from easel.catalog import BackendCatalog, Catalog
from easel.config import HORDE_ANONYMOUS_KEY, BackendConfig, Config, HordeMode, NsfwCheck
from easel.safety.images import probe_classifier

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"

# Discord permission bits (https://discord.com/developers/docs/topics/permissions).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
SEND_MESSAGES_IN_THREADS = 1 << 38

REQUIRED_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS | ATTACH_FILES | EMBED_LINKS | READ_MESSAGE_HISTORY
)
OPTIONAL_PERMISSIONS = USE_EXTERNAL_EMOJIS
INVITE_PERMISSIONS = REQUIRED_PERMISSIONS | OPTIONAL_PERMISSIONS  # 274878286848

SHORT_TIMEOUT = 10.0  # lists, version, Discord
TEST_IMAGE_TIMEOUT = 60.0  # the 1-step test image (a cold model load can take a while)
TEST_PROMPT = "a red apple on a white table"

DOCKER_HINT = "From Docker use http://host.docker.internal:7860"
STORAGE_HINT = ' (Docker: "/data/easel.db", systemd: "/var/lib/easel/easel.db")'


def invite_url(application_id: int | str, permissions: int = INVITE_PERMISSIONS) -> str:
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={permissions}"
    )


# --------------------------------------------------------------------------------------------------
# The report


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"  # works, but something is off (or missing and optional)
    FAIL = "FAIL"  # Easel cannot work this way: the exit status is 1


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str  # what was found; for a problem, followed by ": <fix>"

    def render(self) -> str:
        return f"{self.level:<4}  {self.text}"


class Report:
    """Collects findings and prints each as it comes, so a slow step shows where the check is."""

    def __init__(self, out: TextIO, secrets: Iterable[str] = ()) -> None:
        self.out = out
        self.findings: list[Finding] = []
        # A last guard: whatever a line says, URL userinfo and these strings (passwords, the token) never print.
        self._secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        text = scrub_credentials(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _add(self, level: Level, text: str) -> None:
        finding = Finding(level, self._scrub(text))
        self.findings.append(finding)
        print(finding.render(), file=self.out, flush=True)

    def ok(self, text: str) -> None:
        self._add(Level.OK, text)

    def warn(self, text: str) -> None:
        self._add(Level.WARN, text)

    def fail(self, text: str) -> None:
        self._add(Level.FAIL, text)

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level == level)


# --------------------------------------------------------------------------------------------------
# Webui errors -> finding with its fix


_DNS_WORDS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution")


def webui_problem(exc: WebuiError, backend: BackendConfig, *, timeout: float = SHORT_TIMEOUT) -> str:
    """One line: what went wrong talking to ``backend`` and how to fix it (its URL without credentials)."""
    url = safe_url(backend.url)
    route = exc.route or "/"
    low = exc.message.lower()
    if isinstance(exc, WebuiUnavailable):
        if "timeout" in low:
            return (
                f"no answer from {url} within the connect timeout: is the host up and the port open "
                f"(firewall, --listen)? {DOCKER_HINT}"
            )
        if any(word in low for word in _DNS_WORDS):
            return f"the host name in {url} does not resolve: check [[backends]] url ({exc.message})"
        if "cannot connect" in low:
            hint = DOCKER_HINT
            host = urlparse(url).hostname or ""
            if host in ("127.0.0.1", "localhost", "::1") and Path("/.dockerenv").exists():
                hint = f"Inside a container {host} is the container itself. {DOCKER_HINT}"
            return f"nothing listens at {url}: is the webui running? {hint}"
        return f"the connection to {url} broke ({exc.message}): is the webui crashing or restarting?"
    if isinstance(exc, WebuiAuthError):
        if backend.username is None:
            return (
                f"webui answered {exc.status} on {route} (it wants a login): set username/password in "
                "[[backends]] to the webui's --api-auth user:pass (SD.Next: --auth)"
            )
        return (
            f"webui answered {exc.status} on {route}: wrong credentials: set username/password in [[backends]] "
            "to the webui's --api-auth user:pass (SD.Next: --auth)"
        )
    if isinstance(exc, WebuiNotFound) and exc.message.startswith("Not Found"):
        return (
            f"webui answered 404 on {route}: start it with --api (or --nowebui); if it runs with --subpath, "
            "put that path at the end of the url"
        )
    if isinstance(exc, WebuiTimeout):
        return (
            f"no answer on {route} within {timeout:g} s: the webui is hung or busy with a long job; "
            "try again when it is idle, or restart it"
        )
    if isinstance(exc, WebuiServerError):
        status = f"HTTP {exc.status}" if exc.status is not None else "a bad answer"
        return f"webui failed on {route} ({status}: {exc.message}): its console shows the traceback"
    if isinstance(exc, WebuiRequestError) and not route.endswith("2img"):
        return (
            f"webui refused {route} (HTTP {exc.status}: {exc.message}): Easel needs AUTOMATIC1111 >= 1.9, "
            "Forge or SD.Next"
        )
    if isinstance(exc, WebuiRequestError):
        return f"webui refused {route} (HTTP {exc.status}: {exc.message}): its console may tell more"
    return f"request to {url} failed ({exc.message}): check [[backends]] url"


# --------------------------------------------------------------------------------------------------
# Checks


_FLAVOR_NAMES = {Flavor.A1111: "AUTOMATIC1111 (or compatible)", Flavor.FORGE: "Forge", Flavor.SDNEXT: "SD.Next"}


def _flavor_text(info: BackendDescription) -> str:
    name = _FLAVOR_NAMES[info.flavor] if info.flavor is not None else str(info.kind)
    return f"{name} {info.version}" if info.version else name


# What a user of Easel misses when a backend lacks a capability (bot.py check names it).
_LACKS_TEXT = {
    Capability.TASK_PROGRESS: "per-task progress (no stall watchdog, no prefetch; progress only with exclusive = true)",
    Capability.INTERROGATE: "interrogate (Describe an image)",
    Capability.UPSCALE: "upscaling",
    Capability.IMG2IMG: "img2img",
    Capability.INPAINT: "inpainting",
    Capability.LORAS: "LoRAs",
    Capability.MODELS: "choosing a model per job",
    Capability.FACE_FIX: "face fix",
    Capability.TXT2IMG: "txt2img",
}


def _lacks_text(info: BackendDescription) -> str:
    return "; ".join(_LACKS_TEXT[c] for c in Capability if c in info.lacks)


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def check_config(config: Config, report: Report) -> None:
    d = config.defaults
    report.ok(
        f"config: {len(config.backends)} backend(s); defaults {d.steps} steps, {d.width}x{d.height}, "
        f"sampler {d.sampler!r}, model {d.model or '(whatever is loaded)'}"
    )
    db = Path(config.storage.path)
    folder = db.parent if str(db.parent) else Path(".")
    if db.exists() and not os.access(db, os.W_OK):
        report.fail(
            f"storage: {db} is not writable: fix its owner or permissions, or set [storage] path" + STORAGE_HINT
        )
    elif not folder.is_dir():
        report.fail(f"storage: the folder {folder} does not exist: create it or set [storage] path" + STORAGE_HINT)
    elif not os.access(folder, os.W_OK | os.X_OK):
        report.fail(
            f"storage: cannot write in {folder}: fix its owner or permissions, or set [storage] path" + STORAGE_HINT
        )
    else:
        report.ok(f"storage: SQLite file {db}{' (exists)' if db.exists() else ' (will be created)'}")
    if config.metrics.enabled:
        m = config.metrics
        try:
            family = socket.AF_INET6 if ":" in m.host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((m.host, m.port))
            report.ok(f"metrics: http://{m.host}:{m.port}/metrics can be served")
        except OSError as exc:
            report.warn(
                f"metrics: cannot listen on {m.host}:{m.port} ({exc.strerror or exc}): is Easel already running? "
                "Otherwise pick another [metrics] port"
            )


async def check_classifier(config: Config, report: Report) -> None:
    """The image check: loads and runs (timed), or how to install it. Never a FAIL: without it the bot runs with
    the channel policy only (a WARN when the config turns the check on)."""
    mode = config.safety.nsfw_check
    _, probe = await probe_classifier(config)
    if probe.ok:
        report.ok(f"image check (NudeNet, nsfw_check = {str(mode)!r}): {probe.message}")
    elif mode is NsfwCheck.OFF:
        report.ok(f"image check: off; {probe.message} (servers that set nsfw_check get the channel policy)")
    else:
        report.warn(
            f"image check: [safety] nsfw_check = {str(mode)!r} but {probe.message}; "
            "until then the bot applies only the channel policy (nsfw)"
        )


@dataclass
class BackendResult:
    name: str
    flavor: Flavor
    models: list[ModelInfo]
    samplers: list[str]
    schedulers: list[str] | None  # None: could not be listed
    upscalers: list[str] | None


async def check_backend(
    backend: BackendConfig, session: aiohttp.ClientSession, config: Config, report: Report
) -> BackendResult | None:
    """Reach one webui; None when it cannot be used at all."""
    tag = f"backend {scrub_credentials(backend.name)}:"
    client = WebuiClient(
        backend.url,
        session,
        name=backend.name,
        username=backend.username,
        password=backend.password,
        connect_timeout=min(config.webui.connect_timeout, SHORT_TIMEOUT),
        read_timeout=TEST_IMAGE_TIMEOUT,
        short_timeout=SHORT_TIMEOUT,
        exclusive=backend.exclusive,
    )
    try:
        info = await client.detect()
        models = await client.sd_models()
    except WebuiError as exc:
        log.debug("check: backend %s: %s", scrub_credentials(backend.name), exc)
        report.fail(f"{tag} {webui_problem(exc, backend)}")
        return None
    report.ok(f"{tag} {safe_url(backend.url)} answers: {_flavor_text(info)}")
    if info.lacks:
        report.ok(f"{tag} {_flavor_text(info)} lacks: {_lacks_text(info)}")
    if not models:
        report.fail(
            f"{tag} the webui lists no checkpoints: put a .safetensors model in its models/Stable-diffusion "
            "folder and restart it (or press the refresh button next to the checkpoint list)"
        )
    else:
        report.ok(f"{tag} {len(models)} model(s): {_names([m.model_name for m in models])}")

    try:
        samplers = await client.samplers()
    except WebuiError as exc:
        report.fail(f"{tag} {webui_problem(exc, backend)}")
        return None
    if samplers:
        report.ok(f"{tag} {len(samplers)} sampler(s): {_names(samplers)}")
    else:
        report.warn(f"{tag} the webui lists no samplers: Easel cannot check sampler names against it")

    schedulers: list[str] | None
    try:
        schedulers = await client.schedulers()
    except WebuiError:
        schedulers = None  # webui < 1.9 has no /schedulers; the catalog copes
    upscalers: list[str] | None
    try:
        upscalers = [*await client.upscalers(), *await client.latent_upscale_modes()]
    except WebuiError:
        upscalers = None

    if models:
        await _test_image(client, backend, config, report, samplers)
    return BackendResult(backend.name, info.flavor, models, samplers, schedulers, upscalers)


async def _test_image(
    client: WebuiClient, backend: BackendConfig, config: Config, report: Report, samplers: list[str]
) -> None:
    tag = f"backend {scrub_credentials(backend.name)}:"
    payload: dict[str, Any] = {
        "prompt": TEST_PROMPT,
        "steps": 1,
        "width": 64,
        "height": 64,
        "batch_size": 1,
        "n_iter": 1,
        "send_images": True,
        "save_images": False,
    }
    low = {s.lower(): s for s in samplers}
    if config.defaults.sampler.lower() in low:
        payload["sampler_name"] = low[config.defaults.sampler.lower()]
    started = time.monotonic()
    try:
        result = await client.txt2img(payload)
    except WebuiError as exc:
        report.fail(f"{tag} test image failed: {webui_problem(exc, backend, timeout=TEST_IMAGE_TIMEOUT)}")
        return
    seconds = time.monotonic() - started
    if not result.images:
        report.fail(
            f"{tag} test image: the webui answered without an image: was it interrupted? Its console tells; try again"
        )
        return
    size = _image_size(result.images[0])
    if size is None:
        report.fail(f"{tag} test image: the webui sent bytes that are not an image: is this really a webui API?")
        return
    model = result.info.get("sd_model_name") or "the loaded model"
    report.ok(f"{tag} test image: {size[0]}x{size[1]} in {seconds:.1f} s with {model} (seed {result.seed})")


def _image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def check_defaults(config: Config, results: list[BackendResult], report: Report) -> None:
    """The configured defaults against what the reachable backends offer."""
    if not results:
        return
    catalog = Catalog()
    for r in results:
        catalog.set(
            r.name,
            BackendCatalog(models=tuple(r.models), samplers=tuple(r.samplers), schedulers=tuple(r.schedulers or ())),
        )
    d = config.defaults
    if d.model:
        resolved = catalog.resolve_model(d.model)
        if resolved is None:
            names = catalog.model_names()
            report.fail(
                f"defaults.model {d.model!r} is on no backend: set it to one of {_names(names) or '(none)'}, "
                'or to "" for whatever is loaded'
            )
        else:
            missing = [r.name for r in results if not catalog.backend_has_model(r.name, resolved)]
            if missing:
                report.warn(
                    f"defaults.model {resolved!r} is missing on {', '.join(missing)}: those backends only take "
                    "jobs that name another model"
                )
            else:
                report.ok(f"defaults.model {resolved!r} is on every reachable backend")
    low = d.sampler.lower()
    all_samplers = catalog.samplers()
    if all_samplers:
        without = [r.name for r in results if r.samplers and low not in {s.lower() for s in r.samplers}]
        if len(without) == len([r for r in results if r.samplers]):
            report.fail(
                f"defaults.sampler {d.sampler!r} is offered by no backend, so every /draw without a sampler "
                f"fails: set it to one of {_names(all_samplers)}"
            )
        elif without:
            report.warn(f"defaults.sampler {d.sampler!r} is missing on {', '.join(without)}")
        else:
            report.ok(f"defaults.sampler {d.sampler!r} is offered")
    if d.scheduler:
        known = catalog.schedulers()
        if known and d.scheduler.lower() not in {s.lower() for s in known}:
            report.fail(
                f"defaults.scheduler {d.scheduler!r} is offered by no backend: set it to one of {_names(known)}, "
                'or to "" for automatic'
            )
    # SD.Next has no latent-upscale-modes route, so its list says nothing about "Latent".
    upscalers = [u for r in results if r.flavor != Flavor.SDNEXT for u in (r.upscalers or ())]
    if upscalers and config.hires.upscaler.lower() not in {u.lower() for u in upscalers}:
        report.warn(
            f"hires.upscaler {config.hires.upscaler!r} is offered by no backend, so hires_fix will fail: set it "
            f"to one of {_names(upscalers)}"
        )


async def check_discord(
    config: Config, session: aiohttp.ClientSession, report: Report, base: str = DISCORD_API
) -> str | None:
    """Log in with the token (REST only) and report what Discord says; returns the application id when Discord
    named it (the invite URL's client id), else None."""
    token = config.discord.token
    if not token:
        report.warn(
            "Discord: no token set, so the bot cannot start: create an application at "
            "https://discord.com/developers/applications, reset the token on its Bot tab and set DISCORD_TOKEN "
            "(or [discord] token; ./start.sh setup asks for it), then run the check again for the invite link"
        )
        return None
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (easel check, 0.1)"}
    timeout = aiohttp.ClientTimeout(total=SHORT_TIMEOUT, sock_connect=SHORT_TIMEOUT)
    base = base.rstrip("/")

    async def get(route: str) -> tuple[int, Any]:
        async with session.get(base + route, headers=headers, timeout=timeout) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            return resp.status, data

    try:
        status, me = await get("/users/@me")
        if status == 401:
            report.fail("Discord refused the token: reset it on the Bot tab and set DISCORD_TOKEN")
            return None
        if status != 200 or not isinstance(me, dict):
            report.fail(
                f"Discord answered HTTP {status} on /users/@me: try again later (https://discordstatus.com); "
                "a 403 or 429 here can also mean this host is rate limited or blocked"
            )
            return None
        name = str(me.get("username", "?"))
        if me.get("discriminator") not in (None, "", "0"):
            name += f"#{me['discriminator']}"
        report.ok(f"Discord: token accepted, the bot is {name} (id {me.get('id', '?')})")
        if me.get("bot") is False:
            report.fail("Discord: this is a user account's token, not a bot token: copy it from the Bot tab")
            return None

        status, app = await get("/oauth2/applications/@me")
        app_id: str | None = None
        if status != 200 or not isinstance(app, dict) or not app.get("id"):
            report.warn(
                f"Discord answered HTTP {status} on /oauth2/applications/@me: cannot build the invite URL; "
                f"use the OAuth2 tab with scopes bot + applications.commands and permissions {INVITE_PERMISSIONS}"
            )
        else:
            app_id = str(app["id"])
            report.ok(f"Discord: invite URL: {invite_url(app_id)}")
            if app.get("bot_require_code_grant"):
                report.warn(
                    "Discord: 'Requires OAuth2 Code Grant' is on, so the invite URL does not work: switch it off "
                    "on the Bot tab"
                )
        if config.discord.guild_ids:
            status, guilds = await get("/users/@me/guilds")
            if status == 200 and isinstance(guilds, list):
                joined = {str(g.get("id")) for g in guilds if isinstance(g, dict)}
                for guild_id in config.discord.guild_ids:
                    if str(guild_id) in joined:
                        report.ok(f"Discord: the bot is in guild {guild_id}")
                    else:
                        report.warn(
                            f"Discord: the bot is not in guild {guild_id} (discord.guild_ids): invite it with the "
                            "URL above, or the commands cannot be registered there"
                        )
        return app_id
    except (aiohttp.ClientError, TimeoutError) as exc:
        host = urlparse(base).netloc or base
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        report.fail(f"Discord: cannot reach {host} ({reason}): check this host's internet access, DNS or proxy")
        return None


def _secrets(config: Config) -> list[str]:
    """Every password and token in the config (also those written into a backend URL)."""
    out = [config.discord.token]
    for b in config.backends:
        out.append(b.password or "")
        out.append(url_credentials(b.url)[1] or "")
        if b.horde is not None and b.horde.api_key != HORDE_ANONYMOUS_KEY:
            out.append(b.horde.api_key)
    return [s for s in out if s]


async def check_horde(backend: BackendConfig, session: aiohttp.ClientSession, config: Config, report: Report) -> None:
    """Reach the AI Horde: its version, the key (401 is a config error, named), kudos, the models with workers."""
    tag = f"backend {backend.name} (AI Horde):"
    client = horde_client(backend, session, read_timeout=SHORT_TIMEOUT)
    try:
        info = await client.detect()
        models = await client.horde_models()
        user = await client.find_user()
    except HordeAuthError:
        report.fail(f"{tag} the Horde refused the api_key (401 InvalidAPIKey): fix api_key or EASEL_HORDE_API_KEY")
        return
    except WebuiError as exc:
        report.fail(f"{tag} {safe_url(backend.url)} does not answer: {exc}")
        return
    who = "the anonymous key (lowest priority)" if client.anonymous else f"{user.username}, {user.kudos:,.0f} kudos"
    report.ok(f"{tag} {safe_url(backend.url)} answers (version {info.version or '?'}); key: {who}")
    report.ok(f"{tag} lacks: {_lacks_text(info)}")
    served = {m.name for m in models if m.count > 0}
    wanted = list(backend.horde.models) if backend.horde else []
    missing = [m for m in wanted if m not in served]
    if missing:
        report.warn(f"{tag} no Horde worker serves {_names(missing)} right now")
    report.ok(f"{tag} {len(served)} model(s) with workers" + (f"; allowed here: {_names(wanted)}" if wanted else ""))
    if config.horde.mode is HordeMode.OFF:
        report.warn(f"{tag} [horde] mode is off: jobs go there only in servers that set /settings horde")


async def run_check(config: Config, *, out: TextIO = sys.stdout, discord_base: str | None = None) -> int:
    """Run every check, print the report to ``out``; 0 when nothing FAILed, else 1."""
    report = Report(out, secrets=_secrets(config))
    print("Easel check", file=out)
    check_config(config, report)
    await check_classifier(config, report)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=SHORT_TIMEOUT, sock_read=TEST_IMAGE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        results: list[BackendResult] = []
        for backend in config.backends:
            if backend.is_horde:
                await check_horde(backend, session, config, report)
                continue
            result = await check_backend(backend, session, config, report)
            if result is not None:
                results.append(result)
        check_defaults(config, results, report)
        await check_discord(config, session, report, discord_base or DISCORD_API)
    fails, warns = report.count(Level.FAIL), report.count(Level.WARN)
    if fails:
        print(f"\n{fails} problem(s): fix the FAIL lines above and run the check again.", file=out)
        return 1
    if not config.discord.token:
        print(
            f"\nThe webui side works ({warns} warning(s)); the bot still needs a Discord token to start.",
            file=out,
        )
    else:
        extra = f" ({warns} warning(s) above)" if warns else ""
        print(f"\nAll good{extra}: start the bot with ./start.sh (and the same --config, if any).", file=out)
    return 0


def main(config: Config) -> int:
    """Synchronous entry point for ``bot.py check``."""
    try:
        return asyncio.run(run_check(config))
    except KeyboardInterrupt:
        return 130
