"""The AI Horde as a :class:`easel.backends.base.BackendClient`.

One request per job: ``POST /v2/generate/async`` (its id is handed to ``on_remote_id`` before anything else, so
the worker stores it and a restart resumes that request instead of sending a second one), then
``GET /v2/generate/check/{id}`` every few seconds (backing off while nothing moves) for queue position and
``wait_time``, ``GET /v2/generate/status/{id}`` once when done, and each picture downloaded at once from exactly
the URL the Horde returned, with a size cap. ``DELETE /v2/generate/status/{id}`` cancels.

Faults become ``WebuiError`` subclasses the worker already knows (``retryable`` says whether another attempt makes
sense): 429 is waited out here (nothing runs on the Horde yet, so trying again can't draw twice), honouring
``Retry-After``, for at most ``rate_limit_wait`` seconds; maintenance mode (a 400) and 5xx are retryable; 401 is a
configuration error; 403 ``KudosUpfront``, ``is_possible: false``, ``faulted`` and a censored placeholder fail the
job with a message that says what to change. The facts are in docs/horde.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import importlib.metadata
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
from easel.backends.errors import (
    WebuiAuthError,
    WebuiError,
    WebuiNotFound,
    WebuiRequestError,
    WebuiResponseTooLarge,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
)
from easel.backends.horde.infotext import UnreadableResult, horde_infotext, png_to_webp, webp_to_png_async
from easel.backends.horde.translate import SAMPLERS, SCHEDULERS, HordeOptions, HordeRefusal, to_horde
from easel.backends.http import TRANSFER_ALLOWANCE, BodyTooLarge, read_capped
from easel.config import BackendConfig, HordeBackend
from easel.i18n import N_, _
from easel.request import DrawRequest

__all__ = [
    "ANONYMOUS_KEY",
    "DEFAULT_URL",
    "HordeAuthError",
    "HordeCensored",
    "HordeClient",
    "HordeFaulted",
    "HordeImpossible",
    "HordeKudosUpfront",
    "HordeMaintenance",
    "HordeModel",
    "HordeRateLimited",
    "HordeRefusal",
    "HordeRequestGone",
    "HordeState",
    "HordeUser",
    "client_agent",
    "easel_version",
    "from_config",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://aihorde.net/api"
ANONYMOUS_KEY = "0000000000"
MAX_DOWNLOAD_BYTES = 32 * 2**20  # one WebP result; a 3072x3072 WebP is well under this
SHORT_BODY_LIMIT = 8 * 2**20
CHECK_SPACING = 0.1  # seconds between two /generate/check calls of one client (the Horde allows 10 a second)
_ERROR_TEXT_LIMIT = 300

_KUDOS = N_(
    "The AI Horde wants kudos up front for this request (over 1024x1024 pixels or many steps) and this bot's key "
    "has too few: ask for a smaller size or fewer steps."
)
_IMPOSSIBLE = N_("No AI Horde worker can draw this now (model {model}); try another model or try again later.")
_FAULTED = N_("The AI Horde gave up on this request (a worker failed); try again.")
_CENSORED = N_(
    "The AI Horde's worker censored this picture as NSFW, so Easel doesn't post it; "
    "ask in an age-restricted channel or change the prompt."
)
_GONE = N_("The AI Horde lost this request (it expired); Easel sends it again.")
_EMPTY = N_("The AI Horde returned no picture.")
_UNREADABLE = N_("The AI Horde's picture could not be read.")


def client_agent(version: str, contact: str) -> str:
    """The ``Client-Agent`` header: ``easel:<version>:<contact>`` (colons in the parts would break it)."""
    clean = [p.replace(":", "_").strip() or "unknown" for p in ("easel", version, contact)]
    return ":".join(clean)


# --------------------------------------------------------------------------------------------------
# Errors (every one is a WebuiError: the worker handles all backends alike)


class HordeRateLimited(WebuiServerError):
    """429: too many requests or prompts in flight. ``retry_after``: seconds the Horde asked to wait."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class HordeMaintenance(WebuiUnavailable):
    """The Horde is in maintenance mode (a 400 ``MaintenanceMode``, or 503): down for now."""


class HordeAuthError(WebuiAuthError):
    """401 ``InvalidAPIKey``: the configured key is wrong (a configuration error)."""


class HordeKudosUpfront(WebuiRequestError, HordeRefusal):
    """403 ``KudosUpfront``: the key has too few kudos for a request this large."""


class HordeImpossible(WebuiRequestError, HordeRefusal):
    """``is_possible: false``: no worker serves this request (its model) now."""


class HordeFaulted(WebuiRequestError, HordeRefusal):
    """``faulted: true``: the Horde gave up on the request."""


class HordeCensored(WebuiRequestError, HordeRefusal):
    """A worker's safety filter replaced the picture with a placeholder: never posted."""


class HordeRequestGone(WebuiServerError):
    """404 ``RequestNotFound`` / 410 ``RequestExpired``: the Horde forgot the request; sending it again is safe."""

    retryable = True


# --------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class HordeModel:
    name: str
    count: int  # workers serving it
    queued: float = 0.0
    eta: int | None = None


@dataclass(frozen=True)
class HordeUser:
    username: str
    kudos: float
    concurrency: int | None = None


@dataclass(frozen=True)
class HordeCheck:
    done: bool
    faulted: bool
    is_possible: bool
    finished: int
    processing: int
    waiting: int
    queue_position: int | None
    wait_time: float | None

    @classmethod
    def parse(cls, body: Any) -> HordeCheck:
        b = body if isinstance(body, Mapping) else {}
        return cls(
            done=bool(b.get("done")),
            faulted=bool(b.get("faulted")),
            is_possible=b.get("is_possible", True) is not False,
            finished=_int(b.get("finished")),
            processing=_int(b.get("processing")),
            waiting=_int(b.get("waiting")),
            queue_position=_int(b["queue_position"]) if isinstance(b.get("queue_position"), int) else None,
            wait_time=float(b["wait_time"]) if isinstance(b.get("wait_time"), int | float) else None,
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class HordeState:
    """What /status says of the Horde: the kudos of the key (None: not known yet, or the anonymous key), the
    models with workers that Easel may use, and Easel's requests there now."""

    anonymous: bool
    kudos: float | None
    models: tuple[str, ...]
    in_flight: int


@dataclass
class _Task:
    remote_id: str | None = None
    cancelled: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set by cancel(): stop waiting at once
    progress: JobProgress = field(default_factory=lambda: JobProgress(known=True, queued=True))


# --------------------------------------------------------------------------------------------------
# The client


class HordeClient:
    """One configured Horde (``[[backends]] kind = "horde"``). Borrows the caller's ``aiohttp`` session."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        api_key: str = ANONYMOUS_KEY,
        agent: str = "easel:0.1.0:unknown",
        options: HordeOptions | None = None,
        name: str = "horde",
        poll_interval: float = 2.0,
        poll_max_interval: float = 10.0,
        impossible_grace: float = 60.0,
        rate_limit_wait: float = 600.0,
        max_download: int = MAX_DOWNLOAD_BYTES,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.api_key = api_key or ANONYMOUS_KEY
        self.agent = agent
        self.options = options or HordeOptions()
        self.name = name
        self.poll_interval = poll_interval
        self.poll_max_interval = max(poll_interval, poll_max_interval)
        self.impossible_grace = impossible_grace
        self.rate_limit_wait = rate_limit_wait
        self.max_download = max_download
        # Every call (the API's JSON and the picture download) is bounded as a whole too: a server trickling its
        # answer a byte at a time never trips sock_read.
        self._timeout = aiohttp.ClientTimeout(
            total=connect_timeout + read_timeout + TRANSFER_ALLOWANCE, connect=connect_timeout, sock_read=read_timeout
        )
        self._clock = clock
        self._tasks: dict[str, _Task] = {}
        self.last_models: tuple[HordeModel, ...] = ()
        self.last_user: HordeUser | None = None
        self.submitted = 0  # requests accepted by the Horde (for /status and tests)
        # /generate/check is limited to 10 a second per IP: this client's checks (all its requests) are spaced
        self._check_lock = asyncio.Lock()
        self._last_check = float("-inf")

    @property
    def kind(self) -> BackendKind:
        return BackendKind.HORDE

    @property
    def anonymous(self) -> bool:
        return self.api_key == ANONYMOUS_KEY

    def state(self) -> HordeState:
        allowed = {m.lower() for m in self.options.models}
        models = tuple(m.name for m in self.last_models if m.count > 0 and (not allowed or m.name.lower() in allowed))
        in_flight = sum(1 for t in self._tasks.values() if t.remote_id is not None)
        kudos = None if self.anonymous or self.last_user is None else self.last_user.kudos
        return HordeState(self.anonymous, kudos, models, in_flight)

    # ---- HTTP -----------------------------------------------------------------------------------

    def _headers(self, with_key: bool) -> dict[str, str]:
        headers = {"Client-Agent": self.agent, "Accept": "application/json"}
        if with_key:
            headers["apikey"] = self.api_key
        return headers

    async def _call(
        self,
        method: str,
        route: str,
        *,
        body: Any = None,
        with_key: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        url = f"{self.url}{route}"
        try:
            async with self.session.request(
                method, url, json=body, headers=self._headers(with_key), params=params, timeout=self._timeout
            ) as resp:
                raw = await _read_capped(resp, SHORT_BODY_LIMIT, route)
                status, headers = resp.status, resp.headers
        except WebuiError:
            raise
        except TimeoutError as exc:
            raise WebuiTimeout("no answer in time", backend=self.name, route=route) from exc
        except aiohttp.ClientError as exc:
            raise WebuiUnavailable(f"{type(exc).__name__}: {exc}", backend=self.name, route=route) from exc
        data: Any = None
        if raw:
            try:
                data = await _json(raw)
            except ValueError:
                data = None
        if 200 <= status < 300:
            if data is None and raw:
                raise WebuiServerError("the answer is not JSON", status=status, backend=self.name, route=route)
            return data
        raise self._error(status, data, raw, headers, route)

    def _error(self, status: int, data: Any, raw: bytes, headers: Mapping[str, str], route: str) -> WebuiError:
        rc = data.get("rc") if isinstance(data, Mapping) else None
        message = data.get("message") if isinstance(data, Mapping) else None
        if not isinstance(message, str) or not message:
            message = raw.decode("utf-8", "replace")[:_ERROR_TEXT_LIMIT] or f"HTTP {status}"
        message = " ".join(message.split())[:_ERROR_TEXT_LIMIT]
        if isinstance(data, Mapping) and isinstance(data.get("errors"), Mapping):
            details = "; ".join(f"{k}: {v}" for k, v in list(data["errors"].items())[:3])
            message = f"{message} ({details})"[:_ERROR_TEXT_LIMIT]
        kw: dict[str, Any] = {"status": status, "backend": self.name, "route": route}
        if rc == "MaintenanceMode" or status == 503:
            return HordeMaintenance(message, **kw)
        if status == 429:
            return HordeRateLimited(message, retry_after=_retry_after(headers), **kw)
        if status == 401 or rc == "InvalidAPIKey":
            return HordeAuthError(message, **kw)
        if rc == "KudosUpfront":
            return HordeKudosUpfront(_(_KUDOS), **kw)
        if status in (404, 410) and rc in ("RequestNotFound", "RequestExpired"):
            return HordeRequestGone(message, **kw)
        if status == 404:
            return WebuiNotFound(message, **kw)
        if status >= 500:
            return WebuiServerError(message, **kw)
        if status == 403:
            return WebuiAuthError(message, **kw)
        return WebuiRequestError(message, **kw)

    # ---- what the Horde is ------------------------------------------------------------------------

    async def detect(self) -> BackendDescription:
        body = await self._call("GET", "/v2/status/heartbeat")
        version = body.get("version") if isinstance(body, Mapping) else None
        return BackendDescription(
            kind=BackendKind.HORDE,
            flavor=None,
            version=version if isinstance(version, str) else None,
            # No TASK_PROGRESS: the Horde says nothing while a worker draws (no steps), so the stall watchdog
            # can't tell slow from stuck; the client's polling follows the request instead.
            capabilities=frozenset({Capability.TXT2IMG, Capability.IMG2IMG, Capability.LORAS, Capability.MODELS}),
        )

    async def horde_models(self) -> list[HordeModel]:
        body = await self._call("GET", "/v2/status/models", params={"type": "image", "model_state": "known"})
        out = []
        for item in body if isinstance(body, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                eta = item.get("eta")
                out.append(
                    HordeModel(
                        item["name"],
                        _int(item.get("count")),
                        float(item.get("queued") or 0.0),
                        eta if isinstance(eta, int) else None,
                    )
                )
        self.last_models = tuple(out)
        return out

    async def find_user(self) -> HordeUser:
        body = await self._call("GET", "/v2/find_user", with_key=True)
        b = body if isinstance(body, Mapping) else {}
        kudos = b.get("kudos")
        concurrency = b.get("concurrency")
        user = HordeUser(
            str(b.get("username") or "?"),
            float(kudos) if isinstance(kudos, int | float) else 0.0,
            concurrency if isinstance(concurrency, int) else None,
        )
        self.last_user = user
        return user

    # The catalog's questions (easel.catalog.Catalog.refresh asks every backend the same ones).

    async def sd_models(self) -> list[ModelInfo]:
        """The Horde models Easel may use here (``models`` in the config, else all) that have a worker now. With a
        registered key the key is checked too (and its kudos kept for /status): a wrong key keeps the backend down
        with a clear reason instead of failing every job."""
        if not self.anonymous:
            await self.find_user()
        allowed = {m.lower() for m in self.options.models}
        return [
            ModelInfo(title=m.name, model_name=m.name, hash=None, filename="")
            for m in await self.horde_models()
            if m.count > 0 and (not allowed or m.name.lower() in allowed)
        ]

    async def samplers(self) -> list[str]:
        return list(SAMPLERS)

    async def schedulers(self) -> list[str]:
        return list(SCHEDULERS)

    async def prompt_styles(self) -> list[PromptStyle]:
        return []

    async def upscalers(self) -> list[str]:
        return []

    async def loaded_model(self) -> str | None:
        return None

    async def extras(self) -> CatalogExtras:
        return CatalogExtras()  # LoRAs on the Horde are fetched by name from CivitAI: nothing to list here

    # ---- one job ----------------------------------------------------------------------------------

    async def progress(self, task_id: str) -> JobProgress | None:
        task = self._tasks.get(task_id)
        return task.progress if task is not None else JobProgress(known=False)

    def remote_id(self, task_id: str) -> str | None:
        task = self._tasks.get(task_id)
        return task.remote_id if task is not None else None

    async def cancel(self, task_id: str) -> bool:
        task = self._tasks.get(task_id)
        if task is None or task.remote_id is None:
            return False
        task.cancelled = True  # generate() then returns no picture instead of waiting for the rest
        task.wake.set()
        return await self.cancel_request(task.remote_id)

    async def cancel_request(self, remote_id: str) -> bool:
        try:
            await self._call("DELETE", f"/v2/generate/status/{remote_id}")
        except HordeRequestGone:
            return False
        except WebuiError as exc:
            log.warning("horde %s: cancelling request %s failed: %s", self.name, remote_id, exc)
            return False
        log.info("horde %s: request %s cancelled", self.name, remote_id)
        return True

    async def close(self) -> None:
        self._tasks.clear()

    async def upscale(
        self, image: bytes, *, upscaler: str, scale: float, extra: Mapping[str, float] | None = None
    ) -> bytes:
        raise WebuiRequestError(
            _("Upscaling a result isn't available on the AI Horde here; it needs a local image server."),
            backend=self.name,
            route="upscale",
        )

    async def interrogate(self, image: bytes, *, model: str) -> str:
        raise WebuiRequestError(
            _("Describing a picture isn't available on the AI Horde here; it needs a local image server."),
            backend=self.name,
            route="interrogate",
        )

    async def payload(self, request: DrawRequest, model: str | None) -> dict[str, Any]:
        """The request body for ``request`` (the init image converted to WebP in a thread)."""
        source = None
        if request.img2img and request.init_image is not None:
            try:
                source = await asyncio.to_thread(png_to_webp, request.init_image)
            except UnreadableResult as exc:
                raise WebuiRequestError(str(exc), backend=self.name, route="translate") from None
        return to_horde(request, self.options, model=model, source_webp=source)

    async def generate(
        self,
        request: DrawRequest,
        *,
        task_id: str,
        model_title: str | None,
        remote_id: str | None = None,
        on_remote_id: RemoteIdCallback | None = None,
    ) -> GenerationResult:
        started = self._clock()
        task = self._tasks.setdefault(task_id, _Task())
        body = await self.payload(request, model_title or request.model)
        try:
            check: HordeCheck | None = None
            if remote_id is not None:
                check = await self._resume(remote_id)
                if check is not None:
                    task.remote_id = remote_id
                    log.info("horde %s: resuming request %s for %s", self.name, remote_id, task_id)
            if task.remote_id is None:
                rid = await self._submit(body, task)
                task.remote_id = rid
                if on_remote_id is not None:
                    try:
                        await on_remote_id(rid)
                    except BaseException:
                        # not stored: a restart could not find it and would send the job again
                        await asyncio.shield(self.cancel_request(rid))
                        raise
            rid = task.remote_id
            await self._poll(rid, task, body, first=check)
            if task.cancelled:
                return _nothing(body, started, self._clock())
            status = await self._status(rid)
            return await self._result(request, body, rid, status, started)
        finally:
            self._tasks.pop(task_id, None)

    async def _check(self, rid: str) -> HordeCheck:
        async with self._check_lock:
            wait = self._last_check + CHECK_SPACING - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_check = self._clock()
        return HordeCheck.parse(await self._call("GET", f"/v2/generate/check/{rid}"))

    async def _resume(self, remote_id: str) -> HordeCheck | None:
        """The request's state, or None when the Horde no longer knows it (then a new one is sent)."""
        try:
            return await self._check(remote_id)
        except HordeRequestGone:
            log.info("horde %s: request %s is gone; sending the job again", self.name, remote_id)
            return None

    async def _submit(self, body: dict[str, Any], task: _Task) -> str:
        """Send the request; a 429 (nothing was accepted) is waited out, bounded by ``rate_limit_wait``."""
        deadline = self._clock() + self.rate_limit_wait
        delay = self.poll_interval
        while True:
            try:
                answer = await self._call("POST", "/v2/generate/async", body=body, with_key=True)
            except HordeRateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else delay
                wait = max(wait, 0.05)
                if self._clock() + wait > deadline:
                    raise
                log.info("horde %s: rate limited (%s); trying again in %.1f s", self.name, exc.message, wait)
                task.progress = JobProgress(known=True, queued=True, eta=wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, 60.0)
                continue
            rid = answer.get("id") if isinstance(answer, Mapping) else None
            if not isinstance(rid, str) or not rid:
                raise WebuiServerError("the answer has no request id", backend=self.name, route="/v2/generate/async")
            self.submitted += 1
            if isinstance(answer, Mapping) and answer.get("message"):
                log.info("horde %s: request %s: %s", self.name, rid, answer["message"])
            return rid

    async def _poll(self, rid: str, task: _Task, body: dict[str, Any], *, first: HordeCheck | None) -> None:
        interval = self.poll_interval
        impossible_since: float | None = None
        last: tuple[int, int, int, int | None] | None = None
        check = first
        while True:
            if check is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await task.wake.wait()
                if task.cancelled:
                    return
                try:
                    check = await self._check(rid)
                except HordeRateLimited as exc:
                    interval = min(max(exc.retry_after or interval * 2, interval), self.poll_max_interval * 3)
                    continue
            c, check = check, None
            if c.faulted:
                raise HordeFaulted(_(_FAULTED), backend=self.name, route="check")
            if c.done:
                task.progress = JobProgress(known=True, completed=True, fraction=1.0, eta=0.0)
                return
            if not c.is_possible:
                now = self._clock()
                impossible_since = now if impossible_since is None else impossible_since
                if now - impossible_since >= self.impossible_grace:
                    await self.cancel_request(rid)
                    models = ", ".join(body.get("models") or []) or "any"
                    raise HordeImpossible(_(_IMPOSSIBLE).format(model=models), backend=self.name, route="check")
            else:
                impossible_since = None
            n = max(1, int(body["params"].get("n", 1)))
            running = c.processing > 0 or c.finished > 0
            task.progress = JobProgress(
                known=True,
                queued=not running,
                active=running,
                fraction=min(0.99, c.finished / n) if running else None,
                eta=c.wait_time,
                queue_position=c.queue_position,
            )
            mark = (c.finished, c.processing, c.waiting, c.queue_position)
            if mark != last:
                last, interval = mark, self.poll_interval
            else:
                interval = min(interval * 1.5, self.poll_max_interval)

    async def _status(self, rid: str) -> Mapping[str, Any]:
        """``/generate/status`` once (a 429 there is waited out once: it is limited to 10 a minute)."""
        for attempt in range(2):
            try:
                body = await self._call("GET", f"/v2/generate/status/{rid}")
            except HordeRateLimited as exc:
                if attempt:
                    raise
                await asyncio.sleep(min(exc.retry_after or 6.0, 60.0))
                continue
            return body if isinstance(body, Mapping) else {}
        raise AssertionError("unreachable")

    async def _result(
        self, request: DrawRequest, body: dict[str, Any], rid: str, status: Mapping[str, Any], started: float
    ) -> GenerationResult:
        gens = [g for g in status.get("generations") or [] if isinstance(g, Mapping)]
        if not gens:
            raise WebuiServerError(_(_EMPTY), backend=self.name, route="status")
        if any(_censored(g) for g in gens):
            # Never posted, not even the pictures that came through: the result would look incomplete.
            raise HordeCensored(_(_CENSORED), backend=self.name, route="status")
        params = body["params"]
        prompt, _sep, negative = body["prompt"].partition(" ### ")
        images: list[bytes] = []
        infotexts: list[str] = []
        seeds: list[int] = []
        workers: list[str] = []
        for g in gens:
            data = await self._picture(str(g.get("img") or ""))
            seed = str(g.get("seed") or "")
            model = g.get("model") if isinstance(g.get("model"), str) else None
            worker = g.get("worker_name") if isinstance(g.get("worker_name"), str) else None

            def text(
                size: tuple[int, int], seed: str = seed, model: str | None = model, worker: str | None = worker
            ) -> str:
                return horde_infotext(prompt, negative, params=params, seed=seed, model=model, worker=worker, size=size)

            try:
                png, info = await webp_to_png_async(data, text)
            except UnreadableResult as exc:
                raise WebuiServerError(f"{_(_UNREADABLE)} ({exc})", backend=self.name, route="download") from None
            images.append(png)
            infotexts.append(info)
            seeds.append(_seed_int(seed))
            workers.append(worker or "?")
        log.info("horde %s: request %s done by %s", self.name, rid, ", ".join(workers))
        sent = {k: v for k, v in body.items() if k != "source_image"}
        return GenerationResult(
            images=tuple(images),
            infotexts=tuple(infotexts),
            seeds=tuple(seeds),
            subseeds=(),
            info={"horde_id": rid, "workers": workers, "kudos": status.get("kudos")},
            parameters=sent,
            elapsed=self._clock() - started,
        )

    async def _picture(self, img: str) -> bytes:
        """One result: downloaded from exactly the URL the Horde gave (r2), or base64 inline."""
        if img.startswith(("http://", "https://")):
            route = urlsplit(img).path
            try:
                async with self.session.get(img, timeout=self._timeout) as resp:
                    if resp.status != 200:
                        raise WebuiServerError(
                            f"the picture download answered HTTP {resp.status}", backend=self.name, route=route
                        )
                    return await _read_capped(resp, self.max_download, route)
            except TimeoutError as exc:
                raise WebuiTimeout("the picture download timed out", backend=self.name, route=route) from exc
            except aiohttp.ClientError as exc:
                raise WebuiUnavailable(f"{type(exc).__name__}: {exc}", backend=self.name, route=route) from exc
        try:
            data = base64.b64decode(img, validate=True)
        except (ValueError, binascii.Error):
            raise WebuiServerError(_(_UNREADABLE), backend=self.name, route="status") from None
        if len(data) > self.max_download:
            raise WebuiResponseTooLarge(f"the picture is over {self.max_download} bytes", backend=self.name)
        return data


def _nothing(body: dict[str, Any], started: float, now: float) -> GenerationResult:
    """The result of a cancelled request: no picture (the worker then reports the job cancelled)."""
    return GenerationResult((), (), (), (), {}, {k: v for k, v in body.items() if k != "source_image"}, now - started)


def _censored(g: Mapping[str, Any]) -> bool:
    if g.get("censored") is True or g.get("state") == "censored":
        return True
    meta = g.get("gen_metadata") or []
    return any(isinstance(m, Mapping) and m.get("type") == "censorship" for m in meta)


def _seed_int(seed: str) -> int:
    try:
        return int(seed)
    except ValueError:
        return -1


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), 600.0))
    except ValueError:
        return None


async def _read_capped(resp: aiohttp.ClientResponse, limit: int, route: str) -> bytes:
    try:
        return await read_capped(resp, limit)
    except BodyTooLarge:
        raise WebuiResponseTooLarge(f"the answer is over the {limit} bytes cap", route=route, backend="horde") from None


async def _json(raw: bytes) -> Any:
    if len(raw) > 256 * 1024:
        return await asyncio.to_thread(json.loads, raw)
    return json.loads(raw)


def easel_version() -> str:
    """Easel's version for ``Client-Agent`` (the installed package's, else the source tree's)."""
    try:
        return importlib.metadata.version("easel")
    except importlib.metadata.PackageNotFoundError:
        return SOURCE_VERSION


SOURCE_VERSION = "0.1.0"  # pyproject.toml's version, for a source checkout that isn't installed


def from_config(cfg: BackendConfig, session: aiohttp.ClientSession, *, read_timeout: float = 60.0) -> HordeClient:
    """The client for one ``[[backends]] kind = "horde"`` table."""
    h = cfg.horde or HordeBackend()
    return HordeClient(
        cfg.url,
        session,
        api_key=h.api_key,
        agent=client_agent(easel_version(), h.contact),
        options=HordeOptions(models=h.models, trusted_workers=h.trusted_workers, allow_downgrade=h.allow_downgrade),
        name=cfg.name,
        poll_interval=h.poll_interval,
        poll_max_interval=h.poll_interval * 5,
        impossible_grace=h.poll_interval * 30,  # a minute at the default interval: a worker may come up
        read_timeout=min(read_timeout, 120.0),
    )
