"""Async client for the AUTOMATIC1111 stable-diffusion-webui HTTP API (``/sdapi/v1``), also Forge and SD.Next.

One ``WebuiClient`` per backend; it borrows an ``aiohttp.ClientSession`` owned by the caller. Every failure is
raised as a ``WebuiError`` subclass whose ``retryable`` class attribute tells the caller whether trying again
(later, or on another backend) makes sense. The client itself never retries: a generation that failed with a
disconnect may still be running on the webui, and only the caller knows whether repeating it is wanted.

Written against AUTOMATIC1111 1.10.1, with Forge's and SD.Next's differences (routes, error shapes) noted where
they matter.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from easel.backends.base import (
    BackendDescription,
    BackendKind,
    Capability,
    CatalogExtras,
    GenerationResult,
    JobProgress,
    ModelInfo,
    PromptStyle,
    RemoteIdCallback,
)
from easel.backends.credentials import safe_url, scrub_credentials, url_credentials
from easel.backends.errors import (
    WebuiError,
    WebuiNotFound,
    WebuiResponseTooLarge,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
    WrongModel,
)
from easel.backends.http import TRANSFER_ALLOWANCE, BodyTooLarge, read_capped
from easel.backends.webui.lists import read_extras
from easel.backends.webui.parsing import (
    _as_float,
    _as_int,
    _b64encode,
    _decode_image,
    _drop_nulls,
    _encode_images,
    _exception_for_status,
    _parse_generation,
    _preview,
    error_message,
)
from easel.backends.webui.values import BackendInfo, Progress, TaskProgress
from easel.infotext import parse_infotext
from easel.options import Flavor
from easel.request import DrawRequest, build_payload

__all__ = ["FLAVOR_CAPABILITIES", "SdnextCaptions", "WebuiClient"]

log = logging.getLogger(__name__)

# Bodies above this size are JSON-parsed and base64-decoded in a worker thread (a 4-image 1024x1024 result is
# ~10 MB of base64; decoding it inline would stall the event loop, i.e. the Discord heartbeat, for a while).
LARGE_BODY = 256 * 1024
# Image inputs above this size are base64-encoded / JSON-serialised in a worker thread.
LARGE_INPUT = 256 * 1024

# Largest answer body accepted from a generation or extras call (decoded size): 4 noisy 2048x2048 PNGs are
# ~70 MB of base64. Short calls (lists, progress, version) get SHORT_BODY_LIMIT.
MAX_RESPONSE_BYTES = 256 * 2**20
SHORT_BODY_LIMIT = 16 * 2**20

_API_HINT = "is the webui started with --api?"


# --------------------------------------------------------------------------------------------------
# Client


@dataclass(frozen=True)
class SdnextCaptions:
    """SD.Next's caption routes as ``detect`` found them (docs/webui.md, "SD.Next captions"): the model each is
    asked for, None where the route is not offered."""

    openclip_model: str | None = None  # /sdapi/v1/openclip: a sentence (BLIP caption + CLIP flavours)
    tagger_model: str | None = None  # /sdapi/v1/tagger: booru tags (DeepBooru where listed)

    @property
    def offered(self) -> bool:
        return self.openclip_model is not None or self.tagger_model is not None


# SD.Next's caption routes (docs/webui.md): GET lists the models, POST captions one image.
SDNEXT_OPENCLIP = "/sdapi/v1/openclip"
SDNEXT_TAGGER = "/sdapi/v1/tagger"
SDNEXT_TAGGER_MODELS = "/sdapi/v1/tagger/models"
SDNEXT_CLIP_MODEL = "ViT-L-14/openai"  # SD.Next's default OpenCLIP model, used when it lists it
SDNEXT_OPENCLIP_MODE = "classic"  # BLIP caption + CLIP flavours, like A1111's CLIP interrogator
# Tags like A1111's DeepDanbooru: spaces for underscores, brackets escaped for prompt syntax.
SDNEXT_TAGGER_OPTIONS: dict[str, Any] = {"threshold": 0.5, "use_spaces": True, "escape_brackets": True}
INTERROGATE_CLIP = "clip"
INTERROGATE_TAGS = "deepdanbooru"


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    elapsed: float


class WebuiClient:
    """Talks to one webui. Cheap to create; holds no connection of its own."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        name: str = "webui",
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        short_timeout: float = 15.0,
        total_timeout: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        exclusive: bool = False,
    ) -> None:
        """``read_timeout`` bounds each wait for data on a long call (a generation sends nothing until it is
        done); ``total_timeout`` bounds the whole long call (default ``read_timeout + TRANSFER_ALLOWANCE``).
        Short calls are bounded by ``short_timeout`` in total. Bodies above ``max_response_bytes`` (short calls:
        at most ``SHORT_BODY_LIMIT``) raise ``WebuiResponseTooLarge``.

        Credentials in ``base_url`` (``http://user:pass@host``) are taken out of it and sent as Basic auth
        (``username``/``password`` win when given); ``base_url``, messages and logs never carry them.

        ``exclusive``: Easel is this webui's only user, so its global progress is Easel's job and ``/interrupt``
        stops nothing of anyone else's (the fallback where per-task progress is missing)."""
        url_user, url_password = url_credentials(base_url)
        raw_password = urlsplit(base_url).password if url_user is not None else None
        if username is None and url_user:
            username, password = url_user, url_password
        self._secrets = tuple(p for p in {url_password, raw_password, password} if p)
        self.base_url = safe_url(base_url).rstrip("/")
        self.name = name
        self._label = self._scrub(name)
        self._session = session
        # Built by hand: aiohttp.BasicAuth / auth= are deprecated in recent aiohttp (and this works on all 3.x).
        self._headers: dict[str, str] = {}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.short_timeout = short_timeout
        self.total_timeout = read_timeout + TRANSFER_ALLOWANCE if total_timeout is None else total_timeout
        self.max_response_bytes = max_response_bytes
        self._long = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._short = aiohttp.ClientTimeout(total=short_timeout, sock_connect=min(connect_timeout, short_timeout))
        self.exclusive = exclusive
        self.flavor = Flavor.A1111  # until ``detect`` says otherwise
        self.description: BackendDescription | None = None
        self._captions = SdnextCaptions()  # SD.Next's caption routes, found by ``detect``

    def __repr__(self) -> str:
        return f"WebuiClient(name={self._label!r}, url={safe_url(self.base_url)!r})"

    def _scrub(self, text: str) -> str:
        """``text`` without URL userinfo and without this client's password (e.g. echoed in an aiohttp error)."""
        text = scrub_credentials(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    # ---- transport ------------------------------------------------------------

    def _error(self, cls: type[WebuiError], message: str, route: str, status: int | None = None) -> WebuiError:
        return cls(self._scrub(message), status=status, backend=self._label, route=route)

    async def _send(
        self,
        method: str,
        route: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        long: bool = False,
        ok_statuses: tuple[int, ...] = (),
    ) -> _Response:
        """Perform one HTTP call; map transport failures and non-2xx answers to ``WebuiError``s.

        ``ok_statuses`` lists extra statuses that the caller handles itself (returned, not raised)."""
        url = self.base_url + route
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        limit = self.max_response_bytes if long else min(self.max_response_bytes, SHORT_BODY_LIMIT)
        deadline = asyncio.timeout(self.total_timeout if long else None)
        try:
            async with (
                deadline,
                self._session.request(
                    method,
                    url,
                    data=body,
                    params=params,
                    headers=headers,
                    timeout=self._long if long else self._short,
                    raise_for_status=False,
                ) as resp,
            ):
                status = resp.status
                reason = resp.reason
                data = await self._read_body(resp, route, limit)
        except aiohttp.ConnectionTimeoutError as exc:
            raise self._error(WebuiUnavailable, f"connect timeout ({exc or 'no answer'})", route) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if deadline.expired():
                message = f"the answer did not arrive in full within {self.total_timeout:g} s"
            else:
                message = f"no answer within {self.read_timeout if long else self.short_timeout:g} s"
            raise self._error(WebuiTimeout, message, route) from exc
        except aiohttp.ClientConnectorError as exc:
            raise self._error(WebuiUnavailable, f"cannot connect: {exc.os_error or exc}", route) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise self._error(WebuiUnavailable, "server disconnected", route) from exc
        except (aiohttp.ClientOSError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            raise self._error(WebuiUnavailable, f"connection error: {exc}", route) from exc
        except aiohttp.ClientError as exc:  # InvalidURL and other local misconfiguration
            raise self._error(WebuiError, f"request failed: {type(exc).__name__}: {exc}", route) from exc
        elapsed = time.monotonic() - started
        log.debug("%s %s %s -> %d in %.3fs (%d bytes)", self._label, method, route, status, elapsed, len(data))
        if 200 <= status < 300 or status in ok_statuses:
            return _Response(status, data, elapsed)

        message, detail = error_message(data, status=status, reason=reason)
        message = self._scrub(message)
        cls = _exception_for_status(status)
        if status == 404 and detail == "Not Found" and route.startswith("/sdapi/"):
            message = f"Not Found ({_API_HINT})"
        log.info("%s %s %s failed: HTTP %d: %s", self._label, method, route, status, message)
        raise self._error(cls, message, route, status)

    async def _read_body(self, resp: aiohttp.ClientResponse, route: str, limit: int) -> bytes:
        """The (decompressed) body in chunks, stopping with WebuiResponseTooLarge past ``limit`` bytes."""
        try:
            return await read_capped(resp, limit)
        except BodyTooLarge:
            raise self._too_large(route, resp.status, limit) from None

    def _too_large(self, route: str, status: int, limit: int) -> WebuiError:
        log.warning("%s %s: answer larger than %d bytes, not read", self._label, route, limit)
        return self._error(
            WebuiResponseTooLarge,
            f"the answer is larger than {limit / 2**20:g} MiB, the most Easel reads",
            route,
            status,
        )

    def _json(self, resp: _Response, route: str) -> Any:
        if resp.status == 204 or not resp.body.strip():
            return None
        try:
            return json.loads(resp.body)
        except ValueError as exc:
            snippet = resp.body[:80].decode("utf-8", errors="replace")
            raise self._error(WebuiServerError, f"invalid JSON in response: {snippet!r}", route, resp.status) from exc

    async def _get(self, route: str, *, params: Mapping[str, str] | None = None) -> Any:
        return self._json(await self._send("GET", route, params=params), route)

    async def _post(self, route: str, payload: Any = None, *, long: bool = False) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        return self._json(await self._send("POST", route, body=body, long=long), route)

    async def _get_list(self, route: str) -> list[Any]:
        data = await self._get(route)
        if not isinstance(data, list):
            raise self._error(WebuiServerError, f"expected a list, got {type(data).__name__}", route)
        return data

    # ---- generation ------------------------------------------------------------

    async def _generate(self, route: str, payload: Mapping[str, Any], task_id: str | None) -> GenerationResult:
        body_dict = _drop_nulls(payload)
        if task_id is not None:
            body_dict["force_task_id"] = task_id
        if route.endswith("img2img"):
            body_dict = _encode_images(body_dict)
            body = await asyncio.to_thread(lambda: json.dumps(body_dict).encode())
        else:
            body = json.dumps(body_dict).encode()
        log.debug(
            "%s %s task=%s steps=%s size=%sx%s batch=%sx%s",
            self._label,
            route,
            task_id,
            body_dict.get("steps"),
            body_dict.get("width"),
            body_dict.get("height"),
            body_dict.get("n_iter", 1),
            body_dict.get("batch_size", 1),
        )
        resp = await self._send("POST", route, body=body, long=True)
        try:
            if len(resp.body) > LARGE_BODY:
                result = await asyncio.to_thread(_parse_generation, resp.body, resp.elapsed)
            else:
                result = _parse_generation(resp.body, resp.elapsed)
        except (ValueError, binascii.Error, TypeError) as exc:
            raise self._error(WebuiServerError, f"malformed generation response: {exc}", route, resp.status) from exc
        log.info(
            "%s %s task=%s: %d image(s) in %.1fs, seed %s",
            self._label,
            route,
            task_id,
            len(result.images),
            result.elapsed,
            result.seed,
        )
        return result

    async def txt2img(self, payload: dict[str, Any], *, task_id: str | None = None) -> GenerationResult:
        """POST /sdapi/v1/txt2img. Keys whose value is None are left out; ``task_id`` is sent as
        ``force_task_id``."""
        return await self._generate("/sdapi/v1/txt2img", payload, task_id)

    async def img2img(self, payload: dict[str, Any], *, task_id: str | None = None) -> GenerationResult:
        """POST /sdapi/v1/img2img. ``init_images``/``mask`` entries may be bytes (encoded here) or base64."""
        return await self._generate("/sdapi/v1/img2img", payload, task_id)

    # ---- progress ------------------------------------------------------------

    async def global_progress(self, *, skip_current_image: bool = False) -> Progress:
        """Whatever job the webui is running, ours or not."""
        route = "/sdapi/v1/progress"
        params = {"skip_current_image": "true" if skip_current_image else "false"}
        data = await self._get(route, params=params)
        if not isinstance(data, dict):
            raise self._error(WebuiServerError, "progress: expected an object", route)
        state = data.get("state") if isinstance(data.get("state"), dict) else {}
        image = _preview(data.get("current_image"))
        textinfo = data.get("textinfo")
        return Progress(
            progress=_as_float(data.get("progress")),
            eta_relative=_as_float(data.get("eta_relative")),
            step=_as_int(state.get("sampling_step")),
            steps=_as_int(state.get("sampling_steps")),
            job=str(state.get("job") or ""),
            job_count=_as_int(state.get("job_count")),
            current_image=image,
            textinfo=textinfo if isinstance(textinfo, str) else None,
            job_no=_as_int(state.get("job_no")),
            interrupted=bool(state.get("interrupted")),
            skipped=bool(state.get("skipped")),
        )

    async def task_progress(
        self, task_id: str, *, id_live_preview: int = -1, live_preview: bool = True
    ) -> TaskProgress | None:
        """Per-task progress (UI mode). None when the route does not exist (``--nowebui``, other
        backends)."""
        route = "/internal/progress"
        payload = {"id_task": task_id, "id_live_preview": id_live_preview, "live_preview": live_preview}
        resp = await self._send("POST", route, body=json.dumps(payload).encode(), ok_statuses=(404, 405))
        if resp.status in (404, 405):
            return None
        data = self._json(resp, route)
        if not isinstance(data, dict):
            raise self._error(WebuiServerError, "internal/progress: expected an object", route)
        image = _preview(data.get("live_preview"))
        progress = data.get("progress")
        eta = data.get("eta")
        textinfo = data.get("textinfo")
        return TaskProgress(
            active=bool(data.get("active")),
            queued=bool(data.get("queued")),
            completed=bool(data.get("completed")),
            progress=_as_float(progress) if progress is not None else None,
            eta=_as_float(eta) if eta is not None else None,
            live_preview=image,
            textinfo=textinfo if isinstance(textinfo, str) else None,
            id_live_preview=_as_int(data.get("id_live_preview"), -1),
        )

    async def interrupt(self) -> None:
        """Stop the running job (whoever started it); its request still answers 200 with what it finished."""
        await self._send("POST", "/sdapi/v1/interrupt")

    # ---- options ------------------------------------------------------------

    async def loaded_model(self) -> str | None:
        """Title of the checkpoint the webui has selected (``sd_model_checkpoint``)."""
        route = "/sdapi/v1/options"
        data = await self._get(route)
        if not isinstance(data, dict):
            raise self._error(WebuiServerError, "options: expected an object", route)
        value = data.get("sd_model_checkpoint")
        return value if isinstance(value, str) and value else None

    # ---- lists ------------------------------------------------------------

    async def sd_models(self) -> list[ModelInfo]:
        out = []
        for item in await self._get_list("/sdapi/v1/sd-models"):
            if not isinstance(item, dict):
                continue
            h = item.get("hash")
            out.append(
                ModelInfo(
                    title=str(item.get("title") or item.get("model_name") or ""),
                    model_name=str(item.get("model_name") or ""),
                    hash=h if isinstance(h, str) and h else None,
                    filename=str(item.get("filename") or ""),
                )
            )
        return out

    async def _names(self, route: str, *keys: str) -> list[str]:
        out = []
        for item in await self._get_list(route):
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                for key in keys:
                    value = item.get(key)
                    if isinstance(value, str) and value:
                        out.append(value)
                        break
        return out

    async def samplers(self) -> list[str]:
        return await self._names("/sdapi/v1/samplers", "name")

    async def schedulers(self) -> list[str]:
        """Scheduler labels ("Karras"); SD.Next has no labels, so its names are returned."""
        return await self._names("/sdapi/v1/schedulers", "label", "name")

    async def upscalers(self) -> list[str]:
        return await self._names("/sdapi/v1/upscalers", "name")

    async def latent_upscale_modes(self) -> list[str]:
        """Latent modes usable as ``hr_upscaler``; [] where the route does not exist (SD.Next)."""
        try:
            return await self._names("/sdapi/v1/latent-upscale-modes", "name")
        except WebuiNotFound:
            return []

    async def prompt_styles(self) -> list[PromptStyle]:
        out = []
        for item in await self._get_list("/sdapi/v1/prompt-styles"):
            if isinstance(item, dict) and item.get("name"):
                out.append(
                    PromptStyle(
                        name=str(item["name"]),
                        prompt=str(item.get("prompt") or ""),
                        negative_prompt=str(item.get("negative_prompt") or ""),
                    )
                )
        return out

    async def loras(self) -> list[str]:
        """LoRA names as used in ``<lora:name:weight>``."""
        return await self._names("/sdapi/v1/loras", "name")

    async def extras(self) -> CatalogExtras:
        """The optional lists (easel.backends.webui.lists)."""
        return await read_extras(self)

    async def get_json(self, route: str) -> Any:
        """The JSON of a GET list route, as the webui answers it (the catalog reads LoRAs with their metadata,
        embeddings, scripts, ADetailer models, face restorers)."""
        return await self._get(route)

    # ---- utilities ------------------------------------------------------------

    async def extra_single_image(
        self, image: bytes, *, upscaler: str, scale: float, extra: Mapping[str, float] | None = None
    ) -> bytes:
        """Upscale one image with the Extras tab (``upscaler_1``); returns the decoded output image. ``extra``:
        more Extras keys (the face restorations' visibility)."""
        route = "/sdapi/v1/extra-single-image"
        payload: dict[str, Any] = {"image": "", "resize_mode": 0, "upscaling_resize": scale, "upscaler_1": upscaler}
        payload.update(extra or {})

        def encode() -> bytes:
            payload["image"] = _b64encode(image)
            return json.dumps(payload).encode()

        body = await asyncio.to_thread(encode) if len(image) > LARGE_INPUT else encode()
        resp = await self._send("POST", route, body=body, long=True)

        def decode() -> bytes:
            data = json.loads(resp.body)
            if not isinstance(data, dict) or not isinstance(data.get("image"), str) or not data["image"]:
                raise ValueError("no image in response")
            return _decode_image(data["image"], "image")

        try:
            return await asyncio.to_thread(decode) if len(resp.body) > LARGE_BODY else decode()
        except (ValueError, binascii.Error) as exc:
            raise self._error(WebuiServerError, f"malformed extras response: {exc}", route, resp.status) from exc

    async def detect_flavor(self) -> BackendInfo:
        """Tell A1111, Forge and SD.Next apart: SD.Next answers ``/sdapi/v1/version``, Forge answers
        ``/sdapi/v1/sd-modules``."""
        resp = await self._send("GET", "/sdapi/v1/version", ok_statuses=(404, 405))
        if resp.status not in (404, 405):
            data = self._json(resp, "/sdapi/v1/version")
            version = None
            if isinstance(data, dict):
                for key in ("version", "commit", "updated"):
                    if isinstance(data.get(key), str) and data[key]:
                        version = data[key]
                        break
            return BackendInfo(flavor=Flavor.SDNEXT, version=version)
        resp = await self._send("GET", "/sdapi/v1/sd-modules", ok_statuses=(404, 405))
        if resp.status not in (404, 405):
            return BackendInfo(flavor=Flavor.FORGE, version=None)
        return BackendInfo(flavor=Flavor.A1111, version=None)

    async def interrogate(self, image: bytes, *, model: str) -> str:
        """What the webui's interrogator sees in ``image``: a sentence (``clip``) or comma-separated tags
        (``deepdanbooru``). On SD.Next, whose API has no ``/sdapi/v1/interrogate``, its caption routes found by
        ``detect`` (``WebuiNotFound`` where it offers none)."""
        if self.flavor == Flavor.SDNEXT:
            return await self._sdnext_caption(image, model)
        route = "/sdapi/v1/interrogate"
        data, status = await self._caption_call(route, {"image": "", "model": model}, image)
        caption = data.get("caption") if isinstance(data, dict) else None
        if not isinstance(caption, str):
            raise self._error(WebuiServerError, "malformed interrogate response: no caption", route, status)
        return caption.strip()

    async def _caption_call(self, route: str, payload: dict[str, Any], image: bytes) -> tuple[Any, int]:
        """POST ``payload`` with ``image`` base64-encoded into its ``image`` key (in a thread when large)."""

        def encode() -> bytes:
            return json.dumps({**payload, "image": _b64encode(image)}).encode()

        body = await asyncio.to_thread(encode) if len(image) > LARGE_INPUT else encode()
        resp = await self._send("POST", route, body=body, long=True)
        return self._json(resp, route), resp.status

    async def _sdnext_caption(self, image: bytes, model: str) -> str:
        """SD.Next: ``clip`` is a sentence from ``/sdapi/v1/openclip``, ``deepdanbooru`` tags from
        ``/sdapi/v1/tagger`` (DeepBooru); where only one of the two routes is offered, it answers both."""
        found = self._captions
        if model not in (INTERROGATE_CLIP, INTERROGATE_TAGS):
            raise self._error(WebuiNotFound, f"no interrogator model {model!r} on SD.Next", SDNEXT_OPENCLIP, 404)
        wants_tags = model == INTERROGATE_TAGS
        if found.tagger_model is not None and (wants_tags or found.openclip_model is None):
            route = SDNEXT_TAGGER
            payload: dict[str, Any] = {"image": "", "model": found.tagger_model, **SDNEXT_TAGGER_OPTIONS}
            data, status = await self._caption_call(route, payload, image)
            text = data.get("tags") if isinstance(data, dict) else None
        elif found.openclip_model is not None:
            route = SDNEXT_OPENCLIP
            payload = {
                "image": "",
                "model": found.openclip_model,
                "clip_model": found.openclip_model,
                "mode": SDNEXT_OPENCLIP_MODE,
            }
            data, status = await self._caption_call(route, payload, image)
            text = data.get("caption") if isinstance(data, dict) else None
        else:
            raise self._error(
                WebuiNotFound, "this SD.Next offers no caption route (openclip, tagger)", SDNEXT_OPENCLIP, 404
            )
        if route != (SDNEXT_TAGGER if wants_tags else SDNEXT_OPENCLIP):
            log.info("%s: %s asked, only %s offered: answered by it", self._label, model, route)
        if not isinstance(text, str):
            raise self._error(WebuiServerError, f"malformed {route} response: no text", route, status)
        return text.strip()

    async def _probe_captions(self) -> SdnextCaptions:
        """Which of SD.Next's caption routes answer (their model lists): a 404 means "not offered". Any other
        failure is logged and counts as not offered until the next ``detect``."""
        openclip = await self._probe_list(SDNEXT_OPENCLIP)
        tagger = await self._probe_list(SDNEXT_TAGGER_MODELS)
        names = [n for n in openclip if isinstance(n, str) and n]
        clip_model = SDNEXT_CLIP_MODEL if SDNEXT_CLIP_MODEL in names else (names[0] if names else None)
        taggers = [t.get("name") for t in tagger if isinstance(t, dict) and isinstance(t.get("name"), str)]
        deepbooru = [t for t in taggers if t.lower() in ("deepbooru", "deepdanbooru")]
        tag_model = deepbooru[0] if deepbooru else (taggers[0] if taggers else None)
        found = SdnextCaptions(openclip_model=clip_model, tagger_model=tag_model)
        log.info("%s: SD.Next captions: openclip=%s tagger=%s", self._label, clip_model, tag_model)
        return found

    async def _probe_list(self, route: str) -> list[Any]:
        try:
            resp = await self._send("GET", route, ok_statuses=(404, 405))
            if resp.status in (404, 405):
                return []
            data = self._json(resp, route)
        except WebuiError as exc:
            log.warning("%s: %s did not answer (%s): taken as not offered", self._label, route, exc)
            return []
        return data if isinstance(data, list) else []

    # ---- the BackendClient protocol ------------------------------------------------------

    @property
    def kind(self) -> BackendKind:
        return BackendKind.WEBUI

    async def detect(self) -> BackendDescription:
        """Which webui this is and what it can do. Follows one task (``TASK_PROGRESS``) only where
        ``/internal/progress`` answers (UI mode; never on SD.Next, whose API jobs have no task id). SD.Next
        interrogates (``INTERROGATE``) where one of its caption routes answers."""
        info = await self.detect_flavor()
        capabilities = set(FLAVOR_CAPABILITIES[info.flavor])
        if info.flavor != Flavor.SDNEXT and await self.task_progress("easel-probe") is not None:
            capabilities.add(Capability.TASK_PROGRESS)
        self._captions = await self._probe_captions() if info.flavor == Flavor.SDNEXT else SdnextCaptions()
        if self._captions.offered:
            capabilities.add(Capability.INTERROGATE)
        self.flavor = info.flavor
        self.description = BackendDescription(
            kind=BackendKind.WEBUI, flavor=info.flavor, version=info.version, capabilities=frozenset(capabilities)
        )
        return self.description

    def _follows_tasks(self) -> bool:
        return self.flavor != Flavor.SDNEXT

    async def generate(
        self,
        request: DrawRequest,
        *,
        task_id: str,
        model_title: str | None,
        remote_id: str | None = None,
        on_remote_id: RemoteIdCallback | None = None,
    ) -> GenerationResult:
        """txt2img or img2img with the payload for this webui's flavour. ``remote_id`` is ignored: a webui keeps
        no request across a restart of Easel (the job is simply sent again)."""
        payload = build_payload(request, model_title=model_title, flavor=self.flavor)
        if self.flavor == Flavor.SDNEXT:
            payload.pop("scheduler", None)  # SD.Next has no such field (its sampler picks the schedule)
        call = self.img2img if request.img2img else self.txt2img
        result = await call(payload, task_id=task_id if self._follows_tasks() else None)
        if model_title:
            route = "/sdapi/v1/img2img" if request.img2img else "/sdapi/v1/txt2img"
            await self._check_model(result, model_title, route)
        return result

    async def _check_model(self, result: GenerationResult, asked: str, route: str) -> None:
        """Raise ``WrongModel`` when the webui drew with another checkpoint than ``asked`` (its title): an unknown
        checkpoint in ``override_settings`` is dropped silently and the loaded one is used. What was used is read
        from ``info`` (``sd_model_name``/``sd_model_hash``: A1111, Forge), else the infotext's ``Model``/``Model
        hash`` (SD.Next), else ``/sdapi/v1/options``; when nothing says, the result is taken as it is."""
        name = result.info.get("sd_model_name")
        model_hash = result.info.get("sd_model_hash")
        if not isinstance(name, str) and not isinstance(model_hash, str) and result.infotexts:
            params = parse_infotext(result.infotexts[0]).params
            name, model_hash = params.get("Model"), params.get("Model hash")
        names = {n.lower() for n in _title_names(asked)}
        wanted_hash = _title_hash(asked)
        if isinstance(model_hash, str) and model_hash and wanted_hash:
            if wanted_hash.lower().startswith(model_hash.lower()) or model_hash.lower().startswith(wanted_hash.lower()):
                return
            used = name if isinstance(name, str) and name else model_hash
        elif isinstance(name, str) and name:
            if name.lower() in names:
                return
            used = name
        else:
            loaded = await self.loaded_model()
            if loaded is None or loaded.lower() == asked.lower() or not names.isdisjoint(_title_names(loaded)):
                return
            used = loaded
        log.warning("%s: asked for model %r, the webui drew with %r", self._label, asked, used)
        raise WrongModel(
            self._scrub(f"drew with the model {used!r}, not {asked!r} (it does not have it or could not load it)"),
            asked=asked,
            used=used,
            backend=self._label,
            route=route,
        )

    async def upscale(
        self, image: bytes, *, upscaler: str, scale: float, extra: Mapping[str, float] | None = None
    ) -> bytes:
        return await self.extra_single_image(image, upscaler=upscaler, scale=scale, extra=extra)

    async def progress(self, task_id: str) -> JobProgress | None:
        """Per-task progress where the webui has it; else, on a webui Easel has to itself (``exclusive``), the
        global progress; else None."""
        tp = await self.task_progress(task_id) if self._follows_tasks() else None
        if tp is not None:
            return JobProgress(
                known=tp.active or tp.queued or tp.completed,
                queued=tp.queued,
                active=tp.active,
                completed=tp.completed,
                fraction=tp.progress,
                eta=tp.eta,
                preview=tp.live_preview,
                preview_id=tp.id_live_preview,
            )
        if not self.exclusive:
            return None
        p = await self.global_progress()
        return JobProgress(
            known=not p.idle, active=not p.idle, fraction=p.progress, eta=p.eta_relative, preview=p.current_image
        )

    async def cancel(self, task_id: str) -> bool:
        """``/interrupt`` stops whatever the webui is running: sent only when per-task progress says the active
        task is ``task_id``, or, without per-task progress, when Easel has the webui to itself (``exclusive``).
        A task still waiting in the webui's line is not stopped (False): the caller tries again once it is
        active."""
        try:
            tp = await self.task_progress(task_id) if self._follows_tasks() and task_id else None
            if tp is None and not self.exclusive:
                return False
            if tp is not None and not tp.active:
                return False
            await self.interrupt()
        except WebuiError as exc:
            log.warning("%s: interrupt failed: %s", self._label, exc)
            return False
        return True

    async def close(self) -> None:
        """Nothing to release: the HTTP session is the caller's."""


def _title_hash(title: str) -> str | None:
    """``"abc123"`` of a checkpoint title ``"name.safetensors [abc123]"``."""
    if title.endswith("]") and " [" in title:
        return title[title.rindex(" [") + 2 : -1] or None
    return None


def _title_names(title: str) -> set[str]:
    """The names a webui may report for the checkpoint titled ``title``: the file name, its stem and the
    ``model_name`` (the path with ``/`` as ``_``, without the extension), lower-cased."""
    base = title[: title.rindex(" [")] if _title_hash(title) else title
    flat = base.replace("\\", "/")
    stem = flat.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    model_name = flat.replace("/", "_")
    model_name = model_name.rsplit(".", 1)[0] if "." in model_name.rsplit("_", 1)[-1] else model_name
    return {n.lower() for n in (title, base, stem, model_name) if n}


_ALL_FLAVORS = frozenset(
    {
        Capability.TXT2IMG,
        Capability.IMG2IMG,
        Capability.INPAINT,
        Capability.UPSCALE,
        Capability.LORAS,
        Capability.MODELS,
        Capability.FACE_FIX,
    }
)
# What each flavour can do (per-task progress is probed, see ``WebuiClient.detect``). SD.Next has no
# /sdapi/v1/interrogate: it interrogates where ``detect`` finds its /openclip or /tagger route.
FLAVOR_CAPABILITIES: dict[Flavor, frozenset[Capability]] = {
    Flavor.A1111: _ALL_FLAVORS | {Capability.INTERROGATE},
    Flavor.FORGE: _ALL_FLAVORS | {Capability.INTERROGATE},
    Flavor.SDNEXT: _ALL_FLAVORS,
}
