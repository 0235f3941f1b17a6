"""``./start.sh setup`` (``python bot.py setup``): ask for what Easel needs, try it, write the config file.

It asks for the Discord bot token (not shown as it is typed: ``getpass``), an optional test server id and the
webui's address; tries them with the checks of ``bot.py check`` (:mod:`easel.check`: the token against Discord's
REST API, the webui's models, samplers and a 1-step test image); writes the config file derived from
``config.example.toml`` (its comments kept: ``[discord]`` and ``[[backends]]`` filled in, every other section
commented out at its default, ready to uncomment; for a file outside the working directory ``[storage] path`` is
set beside it, as without a file, e.g. ``/data/easel.db`` for ``--config /data/config.toml``); and prints the bot's
invite URL.

- The token is never echoed, printed or logged: the report's lines are scrubbed of it like ``check``'s, and the file
  (mode 600) holds it on the ``token`` line alone. With ``DISCORD_TOKEN`` set, Enter keeps using the environment
  and the file holds no token at all.
- An existing config file is replaced only after a "y"; anything else leaves it as it is (exit status 1).
- A failed try asks again; Enter keeps the answer anyway (e.g. a webui that is not started yet).
- Not a terminal (a pipe, a test): each answer is one line read from standard input, without a hidden prompt; the
  end of the input keeps the defaults (or, before a token was given, stops without writing anything).

Nothing here imports discord.py.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import getpass
import json
import os
import re
import sys
import tomllib
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp

from easel.backends.webui import safe_url
from easel.check import (
    DISCORD_API,
    INVITE_PERMISSIONS,
    SHORT_TIMEOUT,
    TEST_IMAGE_TIMEOUT,
    Level,
    Report,
    check_backend,
    check_config,
    check_defaults,
    check_discord,
    invite_url,
)
from easel.config import DEFAULT_WEBUI_URL, WEBUI_URL_ENV, Config, ConfigError, StorageConfig, parse_config
from easel.i18n import _

T = TypeVar("T")

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
KEPT_SECTIONS = ("discord", "backends")  # filled in and active; every other section of the example is commented out
DEFAULT_DATABASE = StorageConfig.path
MAX_SNOWFLAKE = 2**64 - 1


class SetupError(Exception):
    """The example config no longer has a line setup fills in (a bug, caught by the tests)."""


# --------------------------------------------------------------------------------------------------
# Questions


class Prompter:
    """Asks one question at a time. On a terminal: ``input``-style prompts, the token through ``getpass``; otherwise
    one line of ``stdin`` per answer (prompts still go to ``out``). None: the input has ended."""

    def __init__(self, stdin: TextIO, out: TextIO) -> None:
        self.stdin = stdin
        self.out = out
        try:
            self.tty = stdin.isatty()
        except (AttributeError, ValueError):
            self.tty = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def ask(self, prompt: str) -> str | None:
        print(prompt, end="", file=self.out, flush=True)
        line = self.stdin.readline()
        if not self.tty or not line:
            print(file=self.out, flush=True)  # a piped answer is not echoed: end the prompt's line
        return line.strip() if line else None

    def secret(self, prompt: str) -> str | None:
        if self.tty:
            try:
                return getpass.getpass(prompt, stream=self.out).strip()
            except EOFError:
                print(file=self.out, flush=True)
                return None
        print(prompt, end="", file=self.out, flush=True)
        line = self.stdin.readline()  # read, never written back
        print(file=self.out, flush=True)
        return line.strip() if line else None


def clean_token(text: str) -> str:
    """What people paste: with quotes around it, or a ``Bot `` prefix."""
    token = text.strip().strip("\"'").strip()
    return token.removeprefix("Bot ").strip()


def client_id_from_token(token: str) -> str | None:
    """The bot's user id, which a bot token carries base64-encoded in its first part; for an application's bot it
    is the application (client) id."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None


@dataclass(frozen=True)
class Answers:
    token: str  # what the bot will log in with
    token_from_env: bool  # DISCORD_TOKEN: the file holds no token
    guild_id: int | None
    url: str
    database: str | None = None  # [storage] path, when not the default: the SQLite file beside the config file


# --------------------------------------------------------------------------------------------------
# The file


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _sections(text: str) -> list[tuple[str | None, str]]:
    """The example split into blank-line separated blocks, each with the table it opens or continues (None for the
    header). A block's comment lines above its ``[table]`` line belong to that table."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip("\n")) if b.strip()]
    result: list[tuple[str | None, str]] = []
    current: str | None = None
    for block in blocks:
        header = re.search(r"^\[\[?([a-z_]+)\]\]?", block, flags=re.M)
        if header:
            current = header.group(1)
        result.append((current, block))
    return result


def _fill(block: str, key: str, value: str) -> str:
    """Set ``key``'s value on its line (its trailing comment kept); exactly one such line must exist."""
    pattern = re.compile(rf'^{key}(\s*)=(\s*)("[^"\n]*"|\[[^\]\n]*\]|\S+)', flags=re.M)
    new, count = pattern.subn(lambda m: f"{key}{m.group(1)}={m.group(2)}{value}", block)
    if count != 1:
        raise SetupError(f"config.example.toml: expected one line '{key} = ...', found {count}")
    return new


def render_config(answers: Answers, example: str) -> str:
    """The config file: the example's ``[discord]`` and ``[[backends]]`` with the answers, every other section
    commented out (its defaults, as documented in the example)."""
    head = [
        "# Easel configuration, written by ./start.sh setup from config.example.toml.",
        "# Every key is optional: what is commented out below is the default. To change something, uncomment",
        "# the line and its [section] line. Keep this file private: it holds the bot token (unless that is in",
        "# DISCORD_TOKEN). Try it with ./start.sh check; start the bot with ./start.sh.",
    ]
    parts = ["\n".join(head)]
    filled = {"token": False, "guild_ids": False, "url": False}
    for section, block in _sections(example):
        if section is None:
            continue  # the example's own header ("Copy to config.toml...") is replaced by the lines above
        if section == "storage" and answers.database is not None:
            parts.append(_fill(block, "path", _toml_string(answers.database)))
        elif section in KEPT_SECTIONS:
            if section == "discord":
                if not answers.token_from_env:
                    block = _fill(block, "token", _toml_string(answers.token))
                    filled["token"] = True
                guild = f"[{answers.guild_id}]" if answers.guild_id is not None else "[]"
                block = _fill(block, "guild_ids", guild)
                filled["guild_ids"] = True
            elif not filled["url"]:
                block = _fill(block, "url", _toml_string(answers.url))
                filled["url"] = True
            parts.append(block)
        else:
            parts.append("\n".join(line if line.startswith("#") else f"# {line}" for line in block.splitlines()))
    missing = [k for k, done in filled.items() if not done and not (k == "token" and answers.token_from_env)]
    if missing:
        raise SetupError(f"config.example.toml: no [discord]/[[backends]] line for {', '.join(missing)}")
    return "\n\n".join(parts) + "\n"


def database_beside(config_path: Path) -> str | None:
    """``[storage] path`` for a config file outside the working directory: the SQLite file beside it (absolute),
    as without a file. None: the default (``easel.db`` in the working directory, which is beside it)."""
    folder = config_path.parent
    if folder.resolve() == Path.cwd().resolve():
        return None
    return str(folder.resolve() / DEFAULT_DATABASE)


def _raw_for(answers: Answers, example: str) -> dict[str, Any]:
    """The config the file will be, for trying it before it is written (the backend named as the example names it)."""
    discord: dict[str, Any] = {"token": answers.token}
    if answers.guild_id is not None:
        discord["guild_ids"] = [answers.guild_id]
    backend = {**tomllib.loads(example).get("backends", [{}])[0], "url": answers.url}
    raw: dict[str, Any] = {"discord": discord, "backends": [backend]}
    if answers.database is not None:
        raw["storage"] = {"path": answers.database}
    return raw


def _write(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path``, readable by its owner only; never over a file unless ``replace``."""
    if replace:
        tmp = path.with_name(f".{path.name}.setup-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)


# --------------------------------------------------------------------------------------------------
# Trying the answers (the checks of bot.py check)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """One check on its own event loop: the questions in between are plain blocking reads."""
    return asyncio.run(coro)


async def _try_discord(config: Config, report: Report, base: str) -> str | None:
    async with aiohttp.ClientSession() as session:
        return await check_discord(config, session, report, base)


async def _try_backend(config: Config, report: Report) -> bool:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=SHORT_TIMEOUT, sock_read=TEST_IMAGE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        result = await check_backend(config.backends[0], session, config, report)
    if result is not None:
        check_defaults(config, [result], report)
    return result is not None


class Setup:
    def __init__(self, path: Path, prompter: Prompter, env: Mapping[str, str], discord_base: str) -> None:
        self.path = path
        self.io = prompter
        self.env = env
        self.discord_base = discord_base
        self.fails: dict[str, int] = {}  # FAIL lines of each step's last try
        self.example = EXAMPLE.read_text(encoding="utf-8")

    def _report(self, token: str) -> Report:
        """check's report on ``out``: the same lines, the token scrubbed from them."""
        return Report(self.io.out, secrets=[token])

    def ask_token(self) -> tuple[str, bool] | None:
        env_token = clean_token(self.env.get("DISCORD_TOKEN", ""))
        if env_token:
            prompt = _("Discord bot token (Enter: use DISCORD_TOKEN from the environment): ")
        else:
            prompt = _(
                "Discord bot token (Developer Portal > your application > Bot > Reset Token; not shown as you type): "
            )
        while True:
            answer = self.io.secret(prompt)
            if answer is None:
                return None
            token = clean_token(answer)
            if token:
                return token, False
            if env_token:
                return env_token, True
            self.io.say(_("The bot needs a token to log in: paste it, or press Ctrl+C to stop."))

    def ask_guild(self) -> int | None:
        prompt = _(
            "Test server id, for instant command registration (Developer Mode on, right-click the server > Copy "
            "Server ID; Enter to skip): "
        )
        while True:
            answer = self.io.ask(prompt)
            if not answer:
                return None
            if answer.isdigit() and 0 < int(answer) <= MAX_SNOWFLAKE:
                return int(answer)
            self.io.say(_("A server id is a number like 123456789012345678; Enter skips it."))

    def ask_url(self, default: str) -> str | None:
        while True:
            answer = self.io.ask(_("Webui address [{default}]: ").format(default=safe_url(default)))
            url = answer or default
            try:
                parse_config({"backends": [{"url": url}]}, env={})
            except ConfigError as exc:
                self.io.say(str(exc).replace("backends[0].url: ", ""))
                if answer is None:
                    return None
                continue
            return url.rstrip("/")

    def try_discord(self, answers: Answers) -> tuple[Answers, str | None]:
        """Try the token until Discord takes it, or the owner keeps it anyway. Returns the answers and the
        application id (None: Discord did not say)."""
        while True:
            report = self._report(answers.token)
            app_id = _run(
                _try_discord(parse_config(_raw_for(answers, self.example), env={}), report, self.discord_base)
            )
            self.fails["discord"] = report.count(Level.FAIL)
            if not self.fails["discord"]:
                return answers, app_id
            again = self.io.secret(_("Paste the token again, or press Enter to keep this one anyway: "))
            token = clean_token(again or "")
            if not token:
                return answers, app_id
            answers = dataclasses.replace(answers, token=token, token_from_env=False)

    def try_webui(self, answers: Answers) -> Answers:
        """Try the webui until it draws, or the owner keeps the address anyway."""
        while True:
            report = self._report(answers.token)
            self.io.say(_("Trying the webui (a test image can take a minute while it loads a model)..."))
            _run(_try_backend(parse_config(_raw_for(answers, self.example), env={}), report))
            self.fails["webui"] = report.count(Level.FAIL)
            if not self.fails["webui"]:
                return answers
            url = self.ask_url_again(answers.url)
            if url is None or url == answers.url:
                return answers
            answers = dataclasses.replace(answers, url=url)

    def ask_url_again(self, current: str) -> str | None:
        while True:
            answer = self.io.ask(
                _("Another webui address, or press Enter to keep {url} anyway: ").format(url=safe_url(current))
            )
            if not answer:
                return None
            try:
                parse_config({"backends": [{"url": answer}]}, env={})
            except ConfigError as exc:
                self.io.say(str(exc).replace("backends[0].url: ", ""))
                continue
            return answer.rstrip("/")

    def run(self) -> int:
        say = self.io.say
        path = self.path
        say(_("Easel setup: a few questions, then {path} is written. Ctrl+C stops without writing.").format(path=path))
        replace = path.exists()
        if replace:
            answer = self.io.ask(_("{path} exists. Replace it? [y/N] ").format(path=path))
            if (answer or "").lower() not in ("y", "yes"):
                say(_("Left {path} as it is: nothing written.").format(path=path))
                return 1
        asked = self.ask_token()
        if asked is None:
            say(_("No token given: nothing written."))
            return 1
        token, from_env = asked
        guild_id = self.ask_guild()
        default_url = self.env.get(WEBUI_URL_ENV, "").strip() or DEFAULT_WEBUI_URL
        answers = Answers(token, from_env, guild_id, default_url, database_beside(path))
        answers, app_id = self.try_discord(answers)
        url = self.ask_url(default_url)
        if url is None:
            say(_("No usable webui address: nothing written."))
            return 1
        answers = self.try_webui(dataclasses.replace(answers, url=url))

        text = render_config(answers, self.example)
        env = {"DISCORD_TOKEN": answers.token} if answers.token_from_env else {}
        config = parse_config(tomllib.loads(text), env=env)
        report = self._report(answers.token)
        check_config(config, report)
        self.fails["config"] = report.count(Level.FAIL)
        try:
            _write(path, text, replace=replace)
        except FileExistsError:
            say(_("{path} appeared meanwhile: left it as it is, nothing written.").format(path=path))
            return 1
        except OSError as exc:
            say(_("Cannot write {path} ({reason}): nothing written.").format(path=path, reason=exc.strerror or exc))
            return 1
        say()
        say(_("Wrote {path} (readable by you only).").format(path=path))
        if answers.token_from_env:
            say(_("The token stays in DISCORD_TOKEN: set it wherever the bot runs."))
        elif self.env.get("DISCORD_TOKEN", "").strip():
            say(_("DISCORD_TOKEN is set here and wins over the file's token: unset it to use the one you gave."))
        if self.env.get(WEBUI_URL_ENV, "").strip():
            say(
                _("{name} is set here: unset it before starting (the file's [[backends]] now names the webui).").format(
                    name=WEBUI_URL_ENV
                )
            )
        client_id = app_id or client_id_from_token(answers.token)
        if client_id is not None:
            say(_("Invite the bot to your server: {url}").format(url=invite_url(client_id)))
        else:
            say(
                _(
                    "Invite the bot from the Developer Portal: OAuth2 > URL Generator, scopes bot and "
                    "applications.commands, permissions {permissions}."
                ).format(permissions=INVITE_PERMISSIONS)
            )
        fails = sum(self.fails.values())
        if fails:
            say(_("{n} check(s) failed (FAIL above): fix them, then ./start.sh check tries again.").format(n=fails))
        say(_("Next: ./start.sh check tries everything once more; ./start.sh starts the bot."))
        return 0


def main(
    path: Path,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    discord_base: str = DISCORD_API,
) -> int:
    """Synchronous entry point for ``bot.py setup``: 0 when the file was written, 1 when not, 130 on Ctrl+C."""
    prompter = Prompter(sys.stdin if stdin is None else stdin, sys.stdout if out is None else out)
    try:
        return Setup(path, prompter, os.environ if env is None else env, discord_base).run()
    except KeyboardInterrupt:
        prompter.say()
        prompter.say(_("Stopped: nothing written."))
        return 130
