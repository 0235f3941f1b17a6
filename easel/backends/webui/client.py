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
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from easel.infotext import png_parameters
from easel.options import Flavor

__all__ = [
    "BackendInfo",
    "Flavor",
    "GenerationResult",
    "ModelInfo",
    "Progress",
    "PromptStyle",
    "TaskProgress",
    "WebuiAuthError",
    "WebuiClient",
    "WebuiError",
    "WebuiNotFound",
    "WebuiRequestError",
    "WebuiResponseTooLarge",
    "WebuiServerError",
    "WebuiTimeout",
    "WebuiUnavailable",
]

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
# A long call (generation) may wait read_timeout for its first byte; the whole answer must then arrive within
# this many seconds more, or the call is cut off (a webui trickling one byte a second never trips sock_read).
TRANSFER_ALLOWANCE = 120.0
_CHUNK = 64 * 1024

_ERROR_TEXT_LIMIT = 500
_API_HINT = "is the webui started with --api?"


# --------------------------------------------------------------------------------------------------
# Errors


class WebuiError(Exception):
    """Base class. ``message`` is human readable (the webui's own words when it gave any)."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, backend: str = "webui", route: str = "") -> None:
        self.message = message
        self.status = status
        self.backend = backend
        self.route = route
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.backend} {self.route}".strip()
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}{status}: {self.message}" if where else f"{self.message}{status}"


class WebuiUnavailable(WebuiError):
    """Connection refused, DNS failure, connect timeout, server disconnected: the webui is not reachable."""

    retryable = True


class WebuiTimeout(WebuiError):
    """No answer within the read timeout (a hung or very slow webui)."""

    retryable = True


class WebuiServerError(WebuiError):
    """HTTP 5xx (also a 2xx whose body is not the expected JSON)."""

    retryable = True


class WebuiResponseTooLarge(WebuiError):
    """The answer body is larger than the client's cap: reading stopped there. Not retryable: the same request
    would produce the same answer."""

    retryable = False


class WebuiRequestError(WebuiError):
    """HTTP 4xx: the request itself is wrong (validation, unknown script, missing init image, ...)."""

    retryable = False


class WebuiAuthError(WebuiRequestError):
    """HTTP 401/403: wrong or missing API credentials."""


class WebuiNotFound(WebuiRequestError):
    """HTTP 404: unknown route (API not enabled, older webui) or a missing resource."""


# --------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class GenerationResult:
    """Result of txt2img / img2img. Images are the bytes the webui sent (PNG with its ``parameters`` chunk),
    without the grid. ``infotexts``, ``seeds`` and ``subseeds`` are aligned with ``images``."""

    images: tuple[bytes, ...]
    infotexts: tuple[str, ...]
    seeds: tuple[int, ...]
    subseeds: tuple[int, ...]
    info: dict[str, Any]
    parameters: dict[str, Any]
    elapsed: float

    @property
    def seed(self) -> int:
        """Seed of the first image (``info.seed`` when no image came back, e.g. an early interrupt)."""
        if self.seeds:
            return self.seeds[0]
        seed = self.info.get("seed")
        return seed if isinstance(seed, int) else -1


@dataclass(frozen=True)
class Progress:
    """``GET /sdapi/v1/progress`` (global: whatever job the webui is running, ours or not)."""

    progress: float
    eta_relative: float
    step: int
    steps: int
    job: str
    job_count: int
    current_image: bytes | None
    textinfo: str | None
    job_no: int = 0
    interrupted: bool = False
    skipped: bool = False

    @property
    def idle(self) -> bool:
        """webui's own test. Note job_count is -1 (busy) while a job starts, e.g. during a model load."""
        return self.job_count == 0


@dataclass(frozen=True)
class TaskProgress:
    """``POST /internal/progress`` for one ``force_task_id`` (UI mode only)."""

    active: bool
    queued: bool
    completed: bool
    progress: float | None
    eta: float | None
    live_preview: bytes | None
    textinfo: str | None
    id_live_preview: int = -1


@dataclass(frozen=True)
class ModelInfo:
    title: str
    model_name: str
    hash: str | None
    filename: str


@dataclass(frozen=True)
class BackendInfo:
    flavor: Flavor
    version: str | None


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str
    negative_prompt: str


# --------------------------------------------------------------------------------------------------
# Helpers


def _b64decode(data: str) -> bytes:
    """Decode a base64 image as the webui sends it (tolerates a ``data:...;base64,`` prefix)."""
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    return base64.b64decode(data)


def image_kind(data: bytes) -> str | None:
    """ "png", "jpeg" or "webp" from the file signature; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _decode_image(data: str, what: str) -> bytes:
    """A base64 image from the webui; ValueError when it does not decode or is not a PNG/JPEG/WebP."""
    try:
        raw = _b64decode(data)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"{what} is not valid base64") from exc
    if image_kind(raw) is None:
        raise ValueError(f"{what} is not a PNG, JPEG or WebP image (starts with {raw[:8]!r})")
    return raw


def _preview(value: Any) -> bytes | None:
    """A live preview (base64 or data: URI) decoded, or None when absent, undecodable or not an image."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _decode_image(value, "preview")
    except ValueError:
        return None


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _as_float(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _loc_text(loc: Any) -> str:
    if not isinstance(loc, list | tuple):
        return str(loc)
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def error_message(body: bytes, *, status: int | None = None, reason: str | None = None) -> tuple[str, str | None]:
    """Turn an error body into a readable message. Returns ``(message, raw_detail)``; ``raw_detail`` is the
    ``detail`` string when the body had one (used to recognise FastAPI's plain ``"Not Found"``).

    Shapes understood (A1111, Forge, SD.Next):
    - FastAPI validation: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}, ...]}`` (pydantic 1 and 2)
    - FastAPI plain: ``{"detail": "Not Found"}`` (also Forge's deliberate errors)
    - webui: ``{"error", "detail", "body", "errors"}``; Forge uses ``message`` for ``errors``, SD.Next
      adds ``code``
    - AI Horde style: ``{"message": ..., "rc": ...}``
    """
    text = body.decode("utf-8", errors="replace").strip()
    parsed = False
    data: Any = None
    if text:
        try:
            data = json.loads(text)
            parsed = True
        except ValueError:
            pass
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list):
            items = []
            for item in detail:
                if isinstance(item, dict):
                    loc = _loc_text(item.get("loc", []))
                    msg = str(item.get("msg", "invalid"))
                    items.append(f"{loc}: {msg}" if loc else msg)
                else:
                    items.append(str(item))
            return ("; ".join(items) or "validation error")[:_ERROR_TEXT_LIMIT], None
        detail_text = detail if isinstance(detail, str) else ""
        extra = ""
        for key in ("errors", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                extra = value
                break
        error_class = data.get("error") if isinstance(data.get("error"), str) else ""
        if detail_text:
            msg = detail_text
        elif extra:
            msg = f"{error_class}: {extra}" if error_class and error_class != "HTTPException" else extra
        elif error_class:
            msg = error_class
        else:
            msg = ""
        if msg:
            return msg[:_ERROR_TEXT_LIMIT], detail_text or None
    elif isinstance(data, str) and data:
        return data[:_ERROR_TEXT_LIMIT], None
    if text and not parsed and not text.startswith("<"):
        return text[:_ERROR_TEXT_LIMIT], None
    return (reason or (f"HTTP {status}" if status is not None else "unknown error")), None


def _exception_for_status(status: int) -> type[WebuiError]:
    if status in (401, 403):
        return WebuiAuthError
    if status == 404:
        return WebuiNotFound
    if status >= 500:
        return WebuiServerError
    return WebuiRequestError


def _drop_nulls(payload: Mapping[str, Any]) -> dict[str, Any]:
    """webui answers 422 for null on some fields (sampler_index, script_args, send_images, save_images,
    alwayson_scripts, ...), so keys with a None value are left out instead."""
    return {k: v for k, v in payload.items() if v is not None}


def _encode_images(payload: dict[str, Any]) -> dict[str, Any]:
    """Convenience: accept raw bytes for the image fields of img2img and send them as base64."""
    out = dict(payload)
    images = out.get("init_images")
    if isinstance(images, list | tuple):
        out["init_images"] = [_b64encode(i) if isinstance(i, bytes | bytearray) else i for i in images]
    for key in ("mask", "latent_mask", "firstpass_image"):
        if isinstance(out.get(key), bytes | bytearray):
            out[key] = _b64encode(out[key])
    return out


def _int_list(info: Mapping[str, Any], key: str) -> list[int]:
    value = info.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"info.{key} is not a list of integers")
    return value


def _parse_info(raw_info: Any) -> dict[str, Any]:
    """``info`` is a JSON string holding an object (webui's ``js()``); a dict is accepted too. Missing or empty:
    {}. Anything else is a broken answer (ValueError)."""
    if raw_info is None or raw_info == "":
        return {}
    if isinstance(raw_info, str):
        try:
            decoded = json.loads(raw_info)
        except ValueError as exc:
            raise ValueError("info is not valid JSON") from exc
    else:
        decoded = raw_info
    if not isinstance(decoded, dict):
        raise ValueError(f"info is not a JSON object ({type(decoded).__name__})")
    return decoded


def _parse_generation(body: bytes, elapsed: float) -> GenerationResult:
    """Raises ValueError (with a readable reason) for anything that is not a well-formed generation answer."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("response is not a JSON object")
    info = _parse_info(data.get("info"))
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    raw_images = data.get("images") or []
    if not isinstance(raw_images, list):
        raise ValueError("'images' is not a list")

    first = _as_int(info.get("index_of_first_image"), 0)
    first = max(0, min(first, len(raw_images)))
    all_seeds = _int_list(info, "all_seeds")
    all_subseeds = _int_list(info, "all_subseeds")
    all_infotexts = info.get("infotexts")
    if all_infotexts is None:
        all_infotexts = []
    if not isinstance(all_infotexts, list) or not all(isinstance(t, str | None) for t in all_infotexts):
        raise ValueError("info.infotexts is not a list of strings")
    # Images beyond the job's own (Forge's preprocessor outputs, inpainting masks) have no seed: drop them.
    last = first + len(all_seeds) if all_seeds else len(raw_images)
    wanted = raw_images[first:last]

    images: list[bytes] = []
    infotexts: list[str] = []
    for k, b64 in enumerate(wanted):
        if not isinstance(b64, str):
            raise ValueError("image entry is not a string")
        idx = first + k
        img = _decode_image(b64, f"images[{idx}]")
        images.append(img)
        text = all_infotexts[idx] if idx < len(all_infotexts) else None
        infotexts.append(text if text is not None else (png_parameters(img) or ""))

    n = len(images)
    base_seed = _as_int(info.get("seed"), -1)
    base_subseed = _as_int(info.get("subseed"), -1)
    seeds = all_seeds[:n] if len(all_seeds) >= n else [base_seed + k for k in range(n)]
    subseeds = all_subseeds[:n] if len(all_subseeds) >= n else [base_subseed + k for k in range(n)]
    return GenerationResult(
        images=tuple(images),
        infotexts=tuple(infotexts),
        seeds=tuple(seeds),
        subseeds=tuple(subseeds),
        info=info,
        parameters=parameters,
        elapsed=elapsed,
    )


def safe_url(url: str) -> str:
    """The URL without credentials (``http://user:pass@host`` -> ``http://host``), for logs and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_credentials(url: str) -> tuple[str | None, str | None]:
    """``(user, password)`` written into a URL (percent-decoded), or ``(None, None)``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, None
    if "@" not in parts.netloc:
        return None, None
    user, _, password = parts.netloc.rpartition("@")[0].partition(":")
    return unquote(user), unquote(password) if password else None


# "scheme://user:pass@" (up to the last @ before the path), and a bare "user:pass@host" (a URL's netloc).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s\"'<>]*@")
_BARE_USERINFO = re.compile(r"(?<![\w.%+:/-])[^\s/:@\"'<>()\[\]]+:[^\s/@\"'<>()\[\]]*@(?=[\w\[])")


def scrub_credentials(text: str) -> str:
    """``text`` with the ``user:pass@`` part of every URL (or bare ``user:pass@host``) in it removed, for names,
    labels, messages and logs."""
    if "@" not in text:
        return text
    return _BARE_USERINFO.sub("", _USERINFO.sub(r"\g<scheme>", text))


# --------------------------------------------------------------------------------------------------
# Client


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
    ) -> None:
        """``read_timeout`` bounds each wait for data on a long call (a generation sends nothing until it is
        done); ``total_timeout`` bounds the whole long call (default ``read_timeout + TRANSFER_ALLOWANCE``).
        Short calls are bounded by ``short_timeout`` in total. Bodies above ``max_response_bytes`` (short calls:
        at most ``SHORT_BODY_LIMIT``) raise ``WebuiResponseTooLarge``.

        Credentials in ``base_url`` (``http://user:pass@host``) are taken out of it and sent as Basic auth
        (``username``/``password`` win when given); ``base_url``, messages and logs never carry them."""
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
        declared = resp.content_length
        if declared is not None and declared > limit and resp.headers.get("Content-Encoding") is None:
            raise self._too_large(route, resp.status, limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise self._too_large(route, resp.status, limit)
            chunks.append(chunk)
        return b"".join(chunks)

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

    async def progress(self, *, skip_current_image: bool = False) -> Progress:
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

    # ---- utilities ------------------------------------------------------------

    async def extra_single_image(self, image: bytes, *, upscaler: str, scale: float) -> bytes:
        """Upscale one image with the Extras tab (``upscaler_1``); returns the decoded output image."""
        route = "/sdapi/v1/extra-single-image"
        payload = {"image": "", "resize_mode": 0, "upscaling_resize": scale, "upscaler_1": upscaler}

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

    async def detect(self) -> BackendInfo:
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
