"""``bot.py check`` against the loopback webui and Discord fakes."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from easel.check import INVITE_PERMISSIONS, REQUIRED_PERMISSIONS, invite_url, run_check
from easel.config import Config, parse_config
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import make_config

TIMEOUT = 30.0  # every check call is bounded by the client's own timeouts; this is a safety net


async def check(config: Config, **kwargs: Any) -> tuple[int, str]:
    out = io.StringIO()
    async with asyncio.timeout(TIMEOUT):
        rc = await run_check(config, out=out, **kwargs)
    return rc, out.getvalue()


def lines(report: str, level: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(level + " ")]


def free_port() -> int:
    """A port nothing listens on (bound then released; nothing else on this host races for it in a test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webui() -> AsyncIterator[FakeWebui]:
    fake = FakeWebui()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def test_permissions_integer() -> None:
    # View Channel, Send Messages, Embed Links, Attach Files, Read Message History, Send Messages in Threads
    assert REQUIRED_PERMISSIONS == 1024 + 2048 + 16384 + 32768 + 65536 + 274877906944
    assert INVITE_PERMISSIONS == REQUIRED_PERMISSIONS + 262144  # + Use External Emojis
    assert invite_url(42) == (
        "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=274878286848"
    )


async def test_all_good_without_token(tmp_path: Path, webui: FakeWebui) -> None:
    rc, report = await check(make_config([webui.url], tmp_path / "easel.db"))
    assert rc == 0, report
    assert lines(report, "FAIL") == []
    ok = "\n".join(lines(report, "OK"))
    assert "config:" in ok
    assert "answers: AUTOMATIC1111" in ok
    assert "2 model(s): v1-5-pruned-emaonly, sdxl_base" in ok
    assert "sampler(s)" in ok
    assert "test image: 64x64" in ok
    [warn] = lines(report, "WARN")
    assert "no token" in warn and "cannot start" in warn and "DISCORD_TOKEN" in warn
    # the test image really was a 1-step 64x64 txt2img that sent its image back
    [gen] = webui.generations
    assert (gen.get("steps"), gen.get("width"), gen.get("height")) == (1, 64, 64)
    # every line of the report body starts with a level
    body = report.split("\n\n")[0].splitlines()[1:]
    assert body and all(line.split(" ")[0] in ("OK", "WARN", "FAIL") for line in body)


async def test_webui_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    rc, report = await check(make_config([url], tmp_path / "easel.db"))
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert f"nothing listens at {url}" in fail
    assert "is the webui running?" in fail
    assert "host.docker.internal" in fail


async def test_webui_without_api(tmp_path: Path) -> None:
    fake = FakeWebui(api=False)
    await fake.start()
    try:
        rc, report = await check(make_config([fake.url], tmp_path / "easel.db"))
    finally:
        await fake.stop()
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert "404" in fail and "--api" in fail
    assert fake.generations == []


async def test_wrong_credentials(tmp_path: Path) -> None:
    fake = FakeWebui(auth=("u", "p"))
    await fake.start()
    try:
        rc, report = await check(
            make_config(
                [{"name": "local", "url": fake.url, "username": "u", "password": "badpass1"}], tmp_path / "easel.db"
            )
        )
        rc_ok, report_ok = await check(
            make_config([{"name": "local", "url": fake.url, "username": "u", "password": "p"}], tmp_path / "easel.db")
        )
    finally:
        await fake.stop()
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert "wrong credentials" in fail
    assert "username/password in [[backends]]" in fail and "--api-auth user:pass" in fail
    assert "badpass1" not in report  # the password is not echoed (the report masks every configured password)
    assert rc_ok == 0, report_ok


async def test_missing_credentials(tmp_path: Path) -> None:
    fake = FakeWebui(auth=("u", "p"))
    await fake.start()
    try:
        rc, report = await check(make_config([fake.url], tmp_path / "easel.db"))
    finally:
        await fake.stop()
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert "--api-auth" in fail


async def test_unknown_default_model_and_sampler(tmp_path: Path, webui: FakeWebui) -> None:
    raw = {
        "backends": [{"url": webui.url}],
        "storage": {"path": str(tmp_path / "easel.db")},
        "defaults": {"model": "no-such-model", "sampler": "No Such Sampler"},
    }
    rc, report = await check(parse_config(raw, env={}))
    assert rc != 0
    fails = "\n".join(lines(report, "FAIL"))
    assert "defaults.model 'no-such-model' is on no backend" in fails
    assert "defaults.sampler 'No Such Sampler' is offered by no backend" in fails


async def test_sdnext_flavor(tmp_path: Path) -> None:
    fake = FakeWebui(flavor="sdnext")
    await fake.start()
    try:
        rc, report = await check(make_config([fake.url], tmp_path / "easel.db"))
    finally:
        await fake.stop()
    assert rc == 0, report
    assert "answers: SD.Next" in report


@pytest.mark.parametrize(
    ("flavor", "name", "lacks"),
    [("sdnext", "SD.Next", ["per-task progress", "interrogate"]), ("forge", "Forge", None), ("a1111", "AUTO", None)],
)
async def test_check_names_the_flavour_and_what_it_lacks(
    tmp_path: Path, flavor: str, name: str, lacks: list[str] | None
) -> None:
    async with FakeWebui(flavor=flavor) as fake:
        rc, report = await check(make_config([fake.url], tmp_path / "easel.db"))
    assert rc == 0, report
    assert f"answers: {name}" in report
    line = next((x for x in report.splitlines() if " lacks: " in x), None)
    if lacks is None:
        assert line is None, report
    else:
        assert line is not None and all(word in line for word in lacks), report


async def test_storage_folder_missing(tmp_path: Path, webui: FakeWebui) -> None:
    raw = {"backends": [{"url": webui.url}], "storage": {"path": str(tmp_path / "nope" / "easel.db")}}
    rc, report = await check(parse_config(raw, env={}))
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert "does not exist" in fail


# ---- Discord ------------------------------------------------------------------------------------------


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token="good-token", validate=False)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_discord_login(tmp_path: Path, webui: FakeWebui, discord: FakeDiscord) -> None:
    config = make_config([webui.url], tmp_path / "easel.db", discord={"token": "good-token"})
    rc, report = await check(config, discord_base=discord.api_base)
    assert rc == 0, report
    assert lines(report, "FAIL") == []
    ok = "\n".join(lines(report, "OK"))
    assert "token accepted" in ok
    assert invite_url(discord.app_id) in ok
    assert "good-token" not in report


async def test_discord_bad_token(tmp_path: Path, webui: FakeWebui, discord: FakeDiscord) -> None:
    config = make_config([webui.url], tmp_path / "easel.db", discord={"token": "bad-token"})
    rc, report = await check(config, discord_base=discord.api_base)
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert "Discord refused the token: reset it on the Bot tab and set DISCORD_TOKEN" in fail
    assert "bad-token" not in report


async def test_discord_unreachable(tmp_path: Path, webui: FakeWebui) -> None:
    config = make_config([webui.url], tmp_path / "easel.db", discord={"token": "some-token"})
    rc, report = await check(config, discord_base=f"http://127.0.0.1:{free_port()}/api/v10")
    assert rc != 0
    [fail] = lines(report, "FAIL")
    assert "Discord: cannot reach" in fail
    assert "some-token" not in report


SECRET = "s3cret-Pw"


async def test_credentials_in_the_url_never_printed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # No name given: the config's default name may be derived from the URL, userinfo and all.
    caplog.set_level("DEBUG")
    async with FakeWebui(auth=("alice", SECRET)) as fake:
        good = fake.url.replace("http://", f"http://alice:{SECRET}@")
        rc, report = await check(make_config([good], tmp_path / "easel.db"))
        # the wrong password in the URL: refused, and the report says so without printing it
        bad = fake.url.replace("http://", "http://alice:wr0ng-Pw@")
        rc_bad, report_bad = await check(make_config([bad], tmp_path / "easel.db"))
    down = f"http://alice:{SECRET}@127.0.0.1:{free_port()}"
    rc_down, report_down = await check(make_config([down], tmp_path / "easel.db"))
    assert rc == 0, report
    assert f"{fake.url} answers" in report  # the URL's user:pass authenticated, and the host is named
    assert rc_bad != 0 and "401" in report_bad
    assert rc_down != 0 and "nothing listens at http://127.0.0.1:" in report_down
    for text in (report, report_bad, report_down, caplog.text):
        assert SECRET not in text
        assert "wr0ng-Pw" not in text
        assert "alice:" not in text
