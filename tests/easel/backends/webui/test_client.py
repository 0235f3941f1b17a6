"""WebuiClient against the loopback FakeWebui (tests/fakes/webui_fake.py)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from easel.backends import webui
from easel.backends.webui import (
    BackendInfo,
    Flavor,
    GenerationResult,
    ModelInfo,
    PromptStyle,
    WebuiAuthError,
    WebuiClient,
    WebuiError,
    WebuiNotFound,
    WebuiRequestError,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
)
from easel.backends.webui import client as webui_client
from easel.infotext import parse_infotext, png_parameters, read_png_text
from tests.fakes.webui_fake import FakeWebui, validate_payload

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 5.0  # bound for every wait in this file


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def fake() -> AsyncIterator[FakeWebui]:
    async with FakeWebui() as f:
        yield f


def make_client(fake: FakeWebui, session: aiohttp.ClientSession, **kwargs: Any) -> WebuiClient:
    kwargs.setdefault("read_timeout", 10.0)
    kwargs.setdefault("short_timeout", 5.0)
    kwargs.setdefault("connect_timeout", 2.0)
    return WebuiClient(fake.url, session, name="test-webui", **kwargs)


@pytest.fixture
def client(fake: FakeWebui, session: aiohttp.ClientSession) -> WebuiClient:
    return make_client(fake, session)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- generation -------------------------------------------------------------------------------------


async def test_txt2img_defaults(client: WebuiClient, fake: FakeWebui) -> None:
    result = await client.txt2img({"prompt": "a red fox"})
    assert isinstance(result, GenerationResult)
    assert len(result.images) == 1
    assert result.images[0].startswith(PNG_MAGIC)
    assert png_size(result.images[0]) == (512, 512)
    # webui's own defaults: Euler, 50 steps, cfg 7.0
    assert result.info["sampler_name"] == "Euler"
    assert result.info["steps"] == 50
    assert result.info["cfg_scale"] == 7.0
    assert result.parameters["sampler_index"] == "Euler"
    assert 0 <= result.seed <= 4294967293
    assert result.seeds == (result.seed,)
    assert result.elapsed > 0
    text = parse_infotext(result.infotexts[0])
    assert text.prompt == "a red fox"
    assert text.sampler == "Euler" and text.steps == 50 and text.cfg_scale == 7.0
    assert text.size == (512, 512)
    assert text.seed == result.seed


async def test_images_are_byte_for_byte_what_the_webui_sent(client: WebuiClient, fake: FakeWebui) -> None:
    result = await client.txt2img({"prompt": "p", "seed": 42, "batch_size": 2, "width": 256, "height": 128})
    assert result.images == tuple(fake.results[-1])
    for image, text in zip(result.images, result.infotexts, strict=True):
        assert png_parameters(image) == text  # the infotext chunk is intact
        assert png_size(image) == (256, 128)


async def test_seeds_and_infotexts_aligned_over_batches(client: WebuiClient) -> None:
    result = await client.txt2img({"prompt": "p", "seed": 100, "subseed": 7, "n_iter": 2, "batch_size": 2})
    assert len(result.images) == 4
    assert result.seeds == (100, 101, 102, 103)
    assert result.subseeds == (7, 8, 9, 10)
    assert [parse_infotext(t).seed for t in result.infotexts] == [100, 101, 102, 103]
    assert result.seed == 100
    assert isinstance(result.info, dict)  # decoded from the JSON string
    assert result.info["all_seeds"] == [100, 101, 102, 103]


async def test_grid_is_removed(client: WebuiClient, fake: FakeWebui) -> None:
    result = await client.txt2img({"prompt": "p", "seed": 5, "batch_size": 3, "save_images": True})
    assert len(fake.results[-1]) == 4  # grid first
    assert result.info["index_of_first_image"] == 1
    assert len(result.images) == 3
    assert result.images == tuple(fake.results[-1][1:])
    assert result.seeds == (5, 6, 7)
    assert [parse_infotext(t).seed for t in result.infotexts] == [5, 6, 7]


async def test_task_id_and_null_keys(client: WebuiClient, fake: FakeWebui) -> None:
    payload = {"prompt": "p", "steps": 4, "send_images": None, "sampler_index": None, "alwayson_scripts": None}
    await client.txt2img(payload, task_id="easel-job-1")
    sent = fake.generations[-1]
    assert sent["force_task_id"] == "easel-job-1"
    assert "send_images" not in sent and "sampler_index" not in sent and "alwayson_scripts" not in sent
    assert fake.validation_errors == []
    assert payload["send_images"] is None  # the caller's dict is not modified


async def test_non_latin1_prompt_survives(client: WebuiClient) -> None:
    result = await client.txt2img({"prompt": "日本の猫, café", "negative_prompt": "ぼやけ", "steps": 2})
    raw = result.images[0]
    assert b"iTXt" in raw
    assert png_parameters(raw) == result.infotexts[0]
    text = parse_infotext(result.infotexts[0])
    assert text.prompt == "日本の猫, café"
    assert text.negative_prompt == "ぼやけ"


async def test_model_override_counts_a_swap_and_never_posts_options(client: WebuiClient, fake: FakeWebui) -> None:
    assert fake.loaded_model == "v1-5-pruned-emaonly"
    result = await client.txt2img({"prompt": "p", "override_settings": {"sd_model_checkpoint": "sdxl_base"}})
    assert fake.swaps == 1
    assert fake.loaded_model == "sdxl_base"
    assert parse_infotext(result.infotexts[0]).model == "sdxl_base"
    assert fake.options_posts == []


async def test_img2img_with_bytes(client: WebuiClient, fake: FakeWebui) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    result = await client.img2img(
        {"prompt": "p", "init_images": [buf.getvalue()], "denoising_strength": 0.5, "width": 64, "height": 64}
    )
    assert len(result.images) == 1 and png_size(result.images[0]) == (64, 64)
    sent = fake.generations[-1]["init_images"][0]
    assert base64.b64decode(sent) == buf.getvalue()
    assert parse_infotext(result.infotexts[0]).params["Denoising strength"] == "0.5"
    assert result.parameters["init_images"] is None  # include_init_images false


async def test_large_response_is_decoded_off_loop(
    client: WebuiClient, fake: FakeWebui, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webui_client, "LARGE_BODY", 0)
    calls: list[str] = []
    real = asyncio.to_thread

    async def spy(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__name__", "?"))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(webui_client.asyncio, "to_thread", spy)
    result = await client.txt2img({"prompt": "p", "seed": 1, "batch_size": 2})
    assert "_parse_generation" in calls
    assert result.images == tuple(fake.results[-1])


# ---- errors ----------------------------------------------------------------------------------------


async def test_validation_422_message(client: WebuiClient, fake: FakeWebui) -> None:
    with pytest.raises(WebuiRequestError) as ei:
        await client.txt2img({"prompt": "p", "steps": "many", "cfg_scale": "high"})
    exc = ei.value
    assert exc.status == 422
    assert not exc.retryable
    assert "steps: value is not a valid integer" in exc.message
    assert "cfg_scale: value is not a valid float" in exc.message
    assert exc.route == "/sdapi/v1/txt2img" and exc.backend == "test-webui"
    assert "test-webui" in str(exc) and "422" in str(exc)
    assert fake.validation_errors


async def test_img2img_without_init_images(client: WebuiClient) -> None:
    with pytest.raises(WebuiNotFound) as ei:
        await client.img2img({"prompt": "p"})
    assert ei.value.message == "Init image not found"  # no --api hint: the route exists
    assert ei.value.status == 404


async def test_unknown_override_setting_is_500_keyerror(client: WebuiClient) -> None:
    with pytest.raises(WebuiServerError) as ei:
        await client.txt2img({"prompt": "p", "override_settings": {"not_a_setting": 1}})
    assert ei.value.message == "KeyError: 'not_a_setting'"
    assert ei.value.retryable


async def test_unknown_hr_upscaler(client: WebuiClient) -> None:
    with pytest.raises(WebuiServerError, match="could not find upscaler named Nope"):
        await client.txt2img({"prompt": "p", "enable_hr": True, "hr_upscaler": "Nope", "denoising_strength": 0.5})


async def test_unknown_script(client: WebuiClient) -> None:
    with pytest.raises(WebuiRequestError) as ei:
        await client.txt2img({"prompt": "p", "script_name": "nope"})
    assert ei.value.status == 422
    assert ei.value.message == "Script 'nope' not found"


@pytest.mark.parametrize(
    ("status", "body", "exc_type", "message"),
    [
        (500, None, WebuiServerError, "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        (
            500,
            {"error": "RuntimeError", "detail": "", "body": "", "message": "boom"},
            WebuiServerError,
            "RuntimeError: boom",
        ),  # Forge
        (
            500,
            {"error": "HTTPException", "code": 500, "detail": "Invalid encoded image", "body": "", "errors": ""},
            WebuiServerError,
            "Invalid encoded image",
        ),  # SD.Next
        (502, "<html><body>Bad Gateway</body></html>", WebuiServerError, "Bad Gateway"),
        (503, b"upstream unavailable", WebuiServerError, "upstream unavailable"),
        (400, {"detail": "Sampler not found"}, WebuiRequestError, "Sampler not found"),
        (
            422,
            {
                "detail": [
                    {
                        "type": "int_parsing",
                        "loc": ["body", "steps"],
                        "msg": "Input should be a valid integer",
                        "input": "x",
                    }
                ]
            },
            WebuiRequestError,
            "steps: Input should be a valid integer",
        ),  # pydantic 2
        (403, {"detail": "Forbidden"}, WebuiAuthError, "Forbidden"),
        (401, None, WebuiAuthError, "Incorrect username or password"),
        (429, {"message": "Too many requests", "rc": "TooManyPrompts"}, WebuiRequestError, "Too many requests"),
        (404, {"detail": "Not Found"}, WebuiNotFound, "Not Found (is the webui started with --api?)"),
    ],
)
async def test_error_shapes(
    client: WebuiClient, fake: FakeWebui, status: int, body: Any, exc_type: type[WebuiError], message: str
) -> None:
    fake.fail_next("txt2img", status, body)
    with pytest.raises(exc_type) as ei:
        await client.txt2img({"prompt": "p"})
    assert type(ei.value) is exc_type
    assert ei.value.status == status
    assert ei.value.message == message
    assert ei.value.retryable == (status >= 500)
    # the failure was one-shot
    assert len((await client.txt2img({"prompt": "p", "steps": 1})).images) == 1


async def test_error_on_list_route(client: WebuiClient, fake: FakeWebui) -> None:
    fake.fail_next("sd-models", 500)
    with pytest.raises(WebuiServerError) as ei:
        await client.sd_models()
    assert ei.value.route == "/sdapi/v1/sd-models"


def test_retryable_flags() -> None:
    assert WebuiUnavailable.retryable and WebuiTimeout.retryable and WebuiServerError.retryable
    assert not WebuiRequestError.retryable and not WebuiAuthError.retryable and not WebuiNotFound.retryable
    assert not WebuiError.retryable
    assert issubclass(WebuiAuthError, WebuiRequestError) and issubclass(WebuiNotFound, WebuiRequestError)


# ---- auth ------------------------------------------------------------------------------------------


async def test_auth(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(auth=("alice", "s3cret")) as fake:
        good = make_client(fake, session, username="alice", password="s3cret")
        assert len(await good.sd_models()) == 2
        assert len((await good.txt2img({"prompt": "p", "steps": 1})).images) == 1

        bad = make_client(fake, session, username="alice", password="wrong")
        with pytest.raises(WebuiAuthError) as ei:
            await bad.txt2img({"prompt": "p"})
        assert ei.value.status == 401
        assert ei.value.message == "Incorrect username or password"
        assert not ei.value.retryable
        assert "wrong" not in str(ei.value) and "wrong" not in repr(bad)

        anonymous = make_client(fake, session)
        with pytest.raises(WebuiAuthError, match="Not authenticated"):
            await anonymous.global_progress()
        assert await anonymous.loras() == ["add_detail", "lcm-lora-sdv1-5"]  # loras are never protected

        async with session.get(fake.url + "/sdapi/v1/sd-models") as resp:
            assert resp.status == 401
            assert "WWW-Authenticate" not in resp.headers  # A1111 drops it


async def test_auth_forge_shape(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(auth=("a", "b"), flavor="forge") as fake:
        with pytest.raises(WebuiAuthError, match="Incorrect username or password"):
            await make_client(fake, session, username="a", password="x").sd_models()


def test_repr_hides_credentials() -> None:
    c = WebuiClient("http://user:pw@example.invalid:7860/", None, password="pw2", username="u")  # type: ignore[arg-type]
    assert "pw" not in repr(c)


SECRET = "s3cret-Pw"


async def test_credentials_in_the_url_authenticate_and_never_show(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with FakeWebui(auth=("alice", SECRET)) as fake:
        url = fake.url.replace("http://", f"http://alice:{SECRET}@")
        client = WebuiClient(url, session, name=url, short_timeout=5.0, read_timeout=10.0)
        assert len(await client.sd_models()) == 2  # the URL's user:pass went out as Basic auth
        assert client.base_url == fake.url
        fake.fail_next("txt2img", 500, body=f"Traceback ... while fetching {url}/sdapi/v1/txt2img")
        with pytest.raises(WebuiServerError) as ei:
            await client.txt2img({"prompt": "p"})
        shown = [str(ei.value), ei.value.message, ei.value.backend, repr(client)]
        await fake.down()
        with pytest.raises(WebuiUnavailable) as ei2:
            await client.sd_models()
        shown += [str(ei2.value), ei2.value.backend]
    for text in [*shown, caplog.text]:
        assert SECRET not in text
        assert "alice:" not in text
    assert "127.0.0.1" in str(ei2.value)  # the host is still named


async def test_password_echoed_by_the_webui_is_masked(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(auth=("alice", SECRET)) as fake:
        client = make_client(fake, session, username="alice", password=SECRET)
        fake.fail_next("sd-models", 500, body=f"auth failed for alice/{SECRET}")
        with pytest.raises(WebuiServerError) as ei:
            await client.sd_models()
    assert SECRET not in str(ei.value)
    assert "***" in ei.value.message


def test_log_formatters_scrub_url_credentials() -> None:
    from easel.logs import JsonFormatter, PlainFormatter

    try:
        raise ValueError(f"cannot reach http://bob:{SECRET}@10.0.0.5:7860/sdapi")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.client", logging.WARNING, __file__, 1, "GET %s failed", (f"http://bob:{SECRET}@h:7860",), exc_info
    )
    for formatter in (PlainFormatter("%(name)s: %(message)s"), JsonFormatter()):
        text = formatter.format(record)
        record.exc_text = None  # formatters cache the traceback text
        assert SECRET not in text
        assert "10.0.0.5:7860" in text and "h:7860" in text


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("http://user:pa@ss@host:7860/sdapi", "http://host:7860/sdapi"),
        ("backend user:pw@host:7860: down", "backend host:7860: down"),
        ("(user:pw@[::1]:7860)", "([::1]:7860)"),
        ("http://127.0.0.1:7860 and bob@example.com", "http://127.0.0.1:7860 and bob@example.com"),
    ],
)
def test_scrub_credentials(text: str, clean: str) -> None:
    assert webui.scrub_credentials(text) == clean


# ---- availability ----------------------------------------------------------------------------------


async def test_api_disabled_hints_at_flag(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(api=False) as fake:
        client = make_client(fake, session)
        with pytest.raises(WebuiNotFound) as ei:
            await client.sd_models()
        assert "--api" in ei.value.message
        assert "test-webui" in str(ei.value)
        with pytest.raises(WebuiNotFound, match="--api"):
            await client.txt2img({"prompt": "p"})


async def test_down_then_up(client: WebuiClient, fake: FakeWebui) -> None:
    assert await client.samplers()
    await fake.down()
    with pytest.raises(WebuiUnavailable) as ei:
        await client.samplers()
    assert ei.value.retryable and ei.value.status is None
    with pytest.raises(WebuiUnavailable):
        await client.txt2img({"prompt": "p"})
    await fake.up()
    assert await client.samplers()


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    client = WebuiClient(f"http://127.0.0.1:{free_port()}", session, connect_timeout=2.0, short_timeout=5.0)
    with pytest.raises(WebuiUnavailable, match="cannot connect"):
        await client.global_progress()


async def test_down_while_generating(client: WebuiClient, fake: FakeWebui) -> None:
    fake.hold()
    task = asyncio.create_task(client.txt2img({"prompt": "p"}))
    await fake.wait_generation_started(timeout=TIMEOUT)
    await fake.down()
    with pytest.raises(WebuiUnavailable):
        await asyncio.wait_for(task, TIMEOUT)


async def test_hung_generation_times_out(fake: FakeWebui, session: aiohttp.ClientSession) -> None:
    client = make_client(fake, session, read_timeout=0.3)
    fake.hang_next("txt2img")
    with pytest.raises(WebuiTimeout) as ei:
        await client.txt2img({"prompt": "p"})
    assert ei.value.retryable
    assert fake.hung == 1
    fake.release_hung()
    await fake.wait_for(lambda: fake.hung == 0, TIMEOUT)


async def test_hung_list_call_times_out(fake: FakeWebui, session: aiohttp.ClientSession) -> None:
    client = make_client(fake, session, short_timeout=0.3)
    fake.hang_next("progress")
    with pytest.raises(WebuiTimeout):
        await client.global_progress()
    assert (await client.global_progress()).idle  # next call answers


# ---- broken answers: trickle, oversize, garbage ------------------------------------------------------


async def test_trickling_answer_is_cut_off_by_the_total_bound(fake: FakeWebui, session: aiohttp.ClientSession) -> None:
    # One byte every 50 ms never trips the 2 s read timeout (it restarts on every byte); the whole answer would
    # take minutes. The total bound ends the call.
    client = make_client(fake, session, read_timeout=2.0, total_timeout=0.5)
    fake.trickle_next("txt2img", chunk=1, interval=0.05)
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(WebuiTimeout) as ei:
            await client.txt2img({"prompt": "p"})
    assert ei.value.retryable
    assert "0.5 s" in ei.value.message
    assert len((await client.txt2img({"prompt": "p"})).images) == 1  # the next answer is read normally


async def test_slow_but_complete_answer_within_the_bound_is_read(
    fake: FakeWebui, session: aiohttp.ClientSession
) -> None:
    client = make_client(fake, session, read_timeout=2.0, total_timeout=TIMEOUT)
    fake.trickle_next("sd-models", chunk=64, interval=0.01)
    assert len(await client.sd_models()) == 2


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversize_answer_is_refused(
    fake: FakeWebui, session: aiohttp.ClientSession, declare_length: bool
) -> None:
    client = make_client(fake, session, max_response_bytes=1_000_000)
    fake.oversize_next("txt2img", 3_000_000, declare_length=declare_length)
    with pytest.raises(webui.WebuiResponseTooLarge) as ei:
        await client.txt2img({"prompt": "p"})
    assert not ei.value.retryable
    assert "larger than" in ei.value.message
    fake.oversize_next("txt2img", 900_000)  # under the cap: read in full (and then refused: not an image)
    with pytest.raises(WebuiServerError, match="malformed generation response"):
        await client.txt2img({"prompt": "p"})


async def test_short_calls_have_their_own_smaller_cap(fake: FakeWebui, session: aiohttp.ClientSession) -> None:
    client = make_client(fake, session)
    fake.oversize_next("sd-models", webui_client.SHORT_BODY_LIMIT + 1, declare_length=False)
    with pytest.raises(webui.WebuiResponseTooLarge):
        await client.sd_models()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("html", "malformed generation response"),
        ("truncated", "malformed generation response"),
        ("not-image", "images[0] is not a PNG, JPEG or WebP image"),
        ("info-not-json", "info is not valid JSON"),
        ("infotexts-not-list", "info.infotexts is not a list of strings"),
    ],
)
async def test_garbage_answer_is_a_clear_retryable_error(
    client: WebuiClient, fake: FakeWebui, kind: str, words: str
) -> None:
    fake.garbage_next("txt2img", kind)
    with pytest.raises(WebuiServerError) as ei:
        await client.txt2img({"prompt": "p"})
    assert ei.value.retryable
    assert words in ei.value.message
    assert ei.value.route == "/sdapi/v1/txt2img"


async def test_extras_answer_that_is_not_an_image(client: WebuiClient, fake: FakeWebui) -> None:
    result = await client.txt2img({"prompt": "p"})
    fake.garbage_next("extra-single-image", "not-image")  # {"images": [...]}: no "image" key
    with pytest.raises(WebuiServerError, match="no image"):
        await client.extra_single_image(result.images[0], upscaler="R-ESRGAN 4x+", scale=2)


def test_image_kind() -> None:
    assert webui.image_kind(PNG_MAGIC + b"rest") == "png"
    assert webui.image_kind(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert webui.image_kind(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "webp"
    assert webui.image_kind(b"<html>") is None
    assert webui.image_kind(b"GIF89a") is None


# ---- progress, interrupt ---------------------------------------------------------------------------


async def test_progress_idle(client: WebuiClient) -> None:
    p = await client.global_progress()
    assert p.idle
    assert p.progress == 0 and p.eta_relative == 0
    assert p.current_image is None and p.job == ""


async def test_progress_while_busy_and_task_progress(client: WebuiClient, fake: FakeWebui) -> None:
    fake.hold()
    first = asyncio.create_task(client.txt2img({"prompt": "p", "n_iter": 2, "steps": 20}, task_id="job-a"))
    await fake.wait_generation_started(timeout=TIMEOUT)
    second = asyncio.create_task(client.txt2img({"prompt": "q", "steps": 20}, task_id="job-b"))
    await fake.wait_for(lambda: len(fake.generations) == 2, TIMEOUT)

    p = await client.global_progress()
    assert not p.idle
    assert p.job_count == 2 and p.step == 1 and p.steps == 20
    assert 0 < p.progress < 1
    assert p.current_image is not None and p.current_image.startswith(PNG_MAGIC)
    assert (await client.global_progress(skip_current_image=True)).current_image is None

    ta = await client.task_progress("job-a")
    assert ta is not None and ta.active and not ta.queued
    assert ta.live_preview is not None and ta.live_preview.startswith(PNG_MAGIC)
    assert ta.progress is not None and ta.progress > 0
    tb = await client.task_progress("job-b")
    assert tb is not None and tb.queued and not tb.active
    assert tb.textinfo == "In queue: 1/1"

    fake.release()
    ra, rb = await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
    assert len(ra.images) == 2 and len(rb.images) == 1
    assert (await client.global_progress()).idle
    done = await client.task_progress("job-a")
    assert done is not None and done.completed and not done.active


async def test_task_progress_absent_route(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(internal_progress=False) as fake:
        assert await make_client(fake, session).task_progress("x") is None


async def test_interrupt_returns_what_was_done(client: WebuiClient, fake: FakeWebui) -> None:
    fake.hold()
    task = asyncio.create_task(client.txt2img({"prompt": "p", "n_iter": 3, "batch_size": 2, "seed": 10}))
    await fake.wait_generation_started(timeout=TIMEOUT)
    await client.interrupt()
    result = await asyncio.wait_for(task, TIMEOUT)
    assert fake.interrupted
    assert len(result.images) == 2  # the running batch, from partial latents; later batches skipped
    assert result.seeds == (10, 11)
    assert result.info["all_seeds"] == [10, 11, 12, 13, 14, 15]


async def test_interrupt_tolerates_204(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext") as fake:
        client = make_client(fake, session)
        await client.interrupt()
        assert fake.interrupts == 1


# ---- options and lists -----------------------------------------------------------------------------


async def test_loaded_model(client: WebuiClient, fake: FakeWebui) -> None:
    title = await client.loaded_model()
    assert title is not None and title.startswith("v1-5-pruned-emaonly.safetensors [")
    fake.loaded_model = "sdxl_base"
    assert (await client.loaded_model() or "").startswith("sdxl_base.safetensors")
    assert fake.options_posts == []  # Easel only reads the options


async def test_lists(client: WebuiClient) -> None:
    models = await client.sd_models()
    assert [m.model_name for m in models] == ["v1-5-pruned-emaonly", "sdxl_base"]
    m = models[0]
    assert isinstance(m, ModelInfo)
    assert m.hash is not None and m.title == f"v1-5-pruned-emaonly.safetensors [{m.hash}]"
    assert m.filename.endswith("v1-5-pruned-emaonly.safetensors")
    samplers = await client.samplers()
    assert samplers[0] == "DPM++ 2M" and "Euler" in samplers and "Euler a" in samplers
    assert "Karras" in await client.schedulers()
    upscalers = await client.upscalers()
    assert upscalers[0] == "None" and "R-ESRGAN 4x+" in upscalers
    assert "Latent" in await client.latent_upscale_modes()
    styles = await client.prompt_styles()
    assert all(isinstance(s, PromptStyle) for s in styles)
    assert styles[0].name == "cinematic" and "{prompt}" in styles[0].prompt
    assert await client.loras() == ["add_detail", "lcm-lora-sdv1-5"]


async def test_sdnext_lists(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext") as fake:
        client = make_client(fake, session)
        assert "Karras" in await client.schedulers()  # names, there are no labels
        assert await client.latent_upscale_modes() == []


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [
        ("a1111", BackendInfo(Flavor.A1111, None)),
        ("forge", BackendInfo(Flavor.FORGE, None)),
        ("sdnext", BackendInfo(Flavor.SDNEXT, "058a7f0")),
    ],
)
async def test_detect(session: aiohttp.ClientSession, flavor: str, expected: BackendInfo) -> None:
    async with FakeWebui(flavor=flavor) as fake:
        assert await make_client(fake, session).detect_flavor() == expected


async def test_extra_single_image(client: WebuiClient) -> None:
    result = await client.txt2img({"prompt": "a cat", "width": 64, "height": 96, "steps": 1})
    up = await client.extra_single_image(result.images[0], upscaler="R-ESRGAN 4x+", scale=2)
    assert png_size(up) == (128, 192)
    texts = read_png_text(up)
    assert texts["parameters"] == result.infotexts[0]
    assert texts["postprocessing"] == "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+"
    with pytest.raises(WebuiServerError, match="could not find upscaler named Nope"):
        await client.extra_single_image(result.images[0], upscaler="Nope", scale=2)


# ---- the fake's fidelity (things Easel's other tests rely on) -------------------------------------------


async def test_fake_sampler_resolution(client: WebuiClient) -> None:
    legacy = await client.txt2img({"prompt": "p", "sampler_name": "DPM++ 2M Karras", "steps": 1})
    assert legacy.info["sampler_name"] == "DPM++ 2M"
    assert parse_infotext(legacy.infotexts[0]).scheduler == "Karras"
    unknown = await client.txt2img({"prompt": "p", "sampler_name": "k_euler_a", "steps": 1})
    assert unknown.info["sampler_name"] == "DPM++ 2M"  # 1.10: unknown names fall back silently
    assert unknown.parameters["sampler_name"] == "k_euler_a"  # echoed raw


async def test_fake_serializes_generations(client: WebuiClient, fake: FakeWebui) -> None:
    fake.hold()
    tasks = [asyncio.create_task(client.txt2img({"prompt": str(i), "steps": 1})) for i in range(3)]
    await fake.wait_generation_started(timeout=TIMEOUT)
    await fake.wait_for(lambda: len(fake.generations) == 3, TIMEOUT)
    assert fake.started_count == 1  # the others wait for the lock
    fake.release(1)
    await fake.wait_generation_started(2, timeout=TIMEOUT)
    assert fake.completed_count == 1
    fake.release()
    results = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert [parse_infotext(r.infotexts[0]).prompt for r in results] == ["0", "1", "2"]


async def test_fake_style_applied(client: WebuiClient) -> None:
    result = await client.txt2img({"prompt": "a fox", "styles": ["cinematic"], "steps": 1})
    assert parse_infotext(result.infotexts[0]).prompt.startswith("cinematic still of a fox")


async def test_fake_info_is_a_json_string(client: WebuiClient, fake: FakeWebui, session: aiohttp.ClientSession) -> None:
    async with session.post(fake.url + "/sdapi/v1/txt2img", json={"prompt": "p", "steps": 1}) as resp:
        body = await resp.json()
    assert isinstance(body["info"], str)
    info = json.loads(body["info"])
    assert list(info)[:4] == ["prompt", "all_prompts", "negative_prompt", "all_negative_prompts"]
    assert info["version"] == "v1.10.1"
    assert len(info["infotexts"]) == len(body["images"]) == 1


def test_validate_payload() -> None:
    assert validate_payload("txt2img", {}) == []
    good = {"prompt": "p", "steps": 20, "cfg_scale": 7, "seed": -1, "styles": ["a"], "override_settings": {}}
    assert validate_payload("txt2img", good) == []
    assert validate_payload("txt2img", {"denoising_strength": None, "scheduler": None}) == []
    assert validate_payload("txt2img", {"send_images": None}) == ["send_images: none is not an allowed value"]
    assert validate_payload("img2img", {"denoising_strength": None}) == [
        "denoising_strength: none is not an allowed value"
    ]
    assert validate_payload("txt2img", {"styles": "a"}) == ["styles: value is not a valid list"]
    assert validate_payload("txt2img", {"tiling": "yes please"}) == ["tiling: value could not be parsed to a boolean"]
    assert validate_payload("txt2img", []) == ["body: value is not a valid dict"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Internal Server Error"),
        (b"null", "Internal Server Error"),
        (b"{}", "Internal Server Error"),
        (b'{"error": "OutOfMemoryError", "detail": "", "body": "", "errors": ""}', "OutOfMemoryError"),
        (b'"plain json string"', "plain json string"),
        (b"<html>oops</html>", "Internal Server Error"),
        (b"x" * 2000, "x" * 500),
    ],
)
def test_error_message_edge_cases(body: bytes, message: str) -> None:
    assert webui.error_message(body, status=500, reason="Internal Server Error")[0] == message


async def test_send_images_false_keeps_seed(client: WebuiClient) -> None:
    result = await client.txt2img({"prompt": "p", "seed": 77, "steps": 1, "send_images": False})
    assert result.images == () and result.infotexts == () and result.seeds == ()
    assert result.seed == 77


async def test_gen_seconds_moves_progress(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(gen_seconds=0.5) as fake:
        client = make_client(fake, session)
        task = asyncio.create_task(client.txt2img({"prompt": "p", "steps": 10}))
        await fake.wait_for(lambda: fake.state.sampling_step >= 3, TIMEOUT)
        p = await client.global_progress()
        assert p.step >= 3 and p.steps == 10 and p.job_count == 1
        assert p.eta_relative > 0
        result = await asyncio.wait_for(task, TIMEOUT)
        assert len(result.images) == 1
        assert result.elapsed >= 0.4
