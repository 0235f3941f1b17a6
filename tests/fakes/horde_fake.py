"""A loopback fake of the AI Horde REST API (v2), enough for Easel's Horde backend.

It listens on 127.0.0.1 (random port); the API is under ``/api`` like the real one (``fake.url`` is
``http://127.0.0.1:<port>/api``). Every request body Easel sends is validated against the Horde's own OpenAPI
document (``tests/specs/ai-horde-openapi.json``) and every JSON answer the fake gives is validated against the
response schema of its route, so the fake can't drift from the real API's shapes. Validation problems are
answered 400 ``{"message", "rc": "BadRequest", "errors"}`` like the real server and recorded in
``validation_errors``.

Simulated: a queue of requests served by workers at set speeds (``workers=[("fast", 0.2), ...]``: name and
seconds per image), ``queue_position`` and ``wait_time``; ``is_possible: false`` when no worker serves the
model; a worker safety filter (``censor_words``: a prompt with one of them comes back as a censored placeholder
with ``censored: true`` when ``censor_nsfw`` was sent); per-key concurrency (429 ``TooManyPrompts`` with
``Retry-After``); ``KudosUpfront`` (403) for an anonymous key asking for more than 1024x1024 or more than 50
steps (``allow_downgrade`` shrinks instead); maintenance mode (400 ``MaintenanceMode``); unknown keys (401
``InvalidAPIKey``); ``fault_next`` (``faulted: true``); expiry (404 ``RequestNotFound`` ``expire_after`` s after
the request finished); ``DELETE`` cancel; ``/generate/status`` limited to 10 a minute per request (the real
server keys that limit on the request path); WebP results served from ``/r2/<token>.webp`` on the fake
(``oversize_next`` serves a larger file); ``/find_user`` and ``/status/models``.

Every wait is bounded and ``stop()`` (or leaving ``async with``) ends the workers and the server.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import hashlib
import io
import json
import logging
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft7Validator
from PIL import Image
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

__all__ = ["ANONYMOUS_KEY", "FakeHorde", "HordeRequest", "validate_horde"]

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "ai-horde-openapi.json"
_SPEC_URI = "urn:easel:ai-horde-openapi"
ANONYMOUS_KEY = "0000000000"


@functools.cache
def _spec() -> tuple[dict[str, Any], Registry]:
    doc = copy.deepcopy(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
    return doc, Registry().with_resource(_SPEC_URI, Resource.from_contents(doc, DRAFT7))


@functools.cache
def _validator(name: str) -> Draft7Validator:
    _, registry = _spec()
    return Draft7Validator({"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}, registry=registry)


@functools.cache
def _response_validator(path: str, method: str, status: int) -> Draft7Validator | None:
    doc, registry = _spec()
    op = doc["paths"].get(path, {}).get(method.lower())
    if op is None:
        return None
    response = op.get("responses", {}).get(str(status))
    if response is None:
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    ref = json.dumps(schema).replace('"#/components', f'"{_SPEC_URI}#/components')
    return Draft7Validator(json.loads(ref), registry=registry)


def validate_horde(schema: str, body: Any) -> list[str]:
    """Problems of ``body`` against the component schema ``schema`` (e.g. ``GenerationInputStable``), as
    ``"params.width: 500 is not a multiple of 64"`` lines; empty when valid."""
    out = []
    for err in sorted(_validator(schema).iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path) or "body"
        out.append(f"{where}: {err.message}")
    return out


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, rc: str, message: str, **extra: Any) -> _Reply:
    return _Reply(status, {"message": message, "rc": rc, **extra})


@dataclass
class _Worker:
    name: str
    seconds_per_image: float
    models: frozenset[str] | None  # None: every model
    trusted: bool = True
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    busy: bool = False

    def serves(self, req: HordeRequest) -> bool:
        if req.trusted_only and not self.trusted:
            return False
        return self.models is None or not req.models or bool(self.models & set(req.models))


@dataclass
class _Generation:
    img: str  # URL on the fake (r2) or base64
    seed: str
    worker: _Worker
    model: str
    censored: bool
    token: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class HordeRequest:
    """One accepted ``/generate/async`` request, as the fake tracks it (tests read these)."""

    id: str
    key: str
    payload: dict[str, Any]
    n: int
    models: list[str]
    trusted_only: bool
    censor: bool
    created: float
    waiting: int = 0
    processing: int = 0
    done_images: list[_Generation] = field(default_factory=list)
    faulted: bool = False
    cancelled: bool = False
    finished_at: float | None = None
    status_calls: deque[float] = field(default_factory=deque)
    check_calls: int = 0

    @property
    def done(self) -> bool:
        return self.cancelled or self.faulted or len(self.done_images) >= self.n


class FakeHorde:
    """See the module docstring. Public attributes are for tests to read (and some to set)."""

    def __init__(
        self,
        *,
        workers: Iterable[tuple[str, float]] = (("fake-worker-1", 0.05),),
        models: Iterable[str] = ("stable_diffusion", "AlbedoBase XL (SDXL)"),
        worker_models: Mapping[str, Iterable[str]] | None = None,
        untrusted: Iterable[str] = (),
        keys: Mapping[str, float] | None = None,  # registered API key -> kudos
        concurrency: int = 30,  # images waiting or processing per key before 429 TooManyPrompts
        censor_words: Iterable[str] = ("nsfwword",),
        expire_after: float = 600.0,  # seconds after a request finished until it is forgotten (404)
        status_per_minute: int = 10,
        r2: bool = True,
        shutdown_timeout: float = 0.25,
    ) -> None:
        self.models = list(models)
        wm = {k: frozenset(v) for k, v in (worker_models or {}).items()}
        bad = set(untrusted)
        self.workers = [_Worker(n, s, wm.get(n), trusted=n not in bad) for n, s in workers]
        self.keys: dict[str, float] = dict(keys or {"test-key": 1000.0})
        self.concurrency = concurrency
        self.censor_words = tuple(w.lower() for w in censor_words)
        self.expire_after = expire_after
        self.status_per_minute = status_per_minute
        self.r2 = r2
        self.maintenance = False
        self.retry_after = 1
        self._shutdown_timeout = shutdown_timeout

        # recorded traffic
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []  # (method, path, headers, json body)
        self.submits: list[dict[str, Any]] = []  # accepted /generate/async bodies
        self.validation_errors: list[str] = []
        self.response_errors: list[str] = []  # the fake's own answers that don't fit the spec (a fake bug)
        self.responses: list[tuple[str, int]] = []
        self.downloads: list[str] = []
        self.requests: dict[str, HordeRequest] = {}
        self.forgotten: set[str] = set()

        self._fail: dict[str, deque[_Reply]] = {}
        self._fault_next = 0
        self._oversize: deque[int] = deque()
        self._files: dict[str, tuple[bytes, float]] = {}  # token -> (webp, expires at)
        self._line: deque[tuple[str, int]] = deque()  # (request id, image index) waiting for a worker
        self._changed = asyncio.Event()
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ---- lifecycle ------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"{self.base}/api"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._stopping = False
        self._worker_tasks = [asyncio.create_task(self._work(w), name=f"fake-horde-{w.name}") for w in self.workers]

    async def stop(self) -> None:
        self._stopping = True
        self._notify()
        for task in self._worker_tasks:
            task.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        self._worker_tasks.clear()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeHorde:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        status: int,
        rc: str,
        message: str = "injected",
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``times`` calls to ``route`` ("async", "check", "status", "models", "find_user",
        "heartbeat") answer ``status`` ``{"message", "rc"}``."""
        q = self._fail.setdefault(route, deque())
        for _ in range(times):
            q.append(
                _error(status, rc, message)
                if headers is None
                else _Reply(status, {"message": message, "rc": rc}, headers)
            )

    def fault_next(self, times: int = 1) -> None:
        """The next ``times`` accepted requests end ``faulted: true`` (a worker error the Horde gave up on)."""
        self._fault_next += times

    def oversize_next(self, size: int) -> None:
        """The next downloaded result is ``size`` bytes long (a WebP header, then padding)."""
        self._oversize.append(size)

    def forget(self, request_id: str) -> None:
        """The Horde drops the request (expired): every route answers 404 ``RequestNotFound`` for it."""
        self.forgotten.add(request_id)
        req = self.requests.pop(request_id, None)
        if req is not None:
            self._line = deque(x for x in self._line if x[0] != request_id)
            req.cancelled = True
        self._notify()

    def set_workers(self, workers: Iterable[tuple[str, float]]) -> None:
        """Replace the workers (e.g. none at all: every request stays ``is_possible: false``). Only while running."""
        for task in self._worker_tasks:
            task.cancel()
        self.workers = [_Worker(n, s, None) for n, s in workers]
        self._worker_tasks = [asyncio.create_task(self._work(w), name=f"fake-horde-{w.name}") for w in self.workers]
        self._notify()

    def in_flight(self, key: str | None = None) -> int:
        return sum(1 for r in self.requests.values() if not r.done and (key is None or r.key == key))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    # ---- the simulated cluster ------------------------------------------------------------------

    async def _work(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            item = next((x for x in self._line if x[0] in self.requests and worker.serves(self.requests[x[0]])), None)
            if item is None:
                self._changed.clear()
                with _suppress_timeout():
                    async with asyncio.timeout(1.0):
                        await self._changed.wait()
                continue
            self._line.remove(item)
            req = self.requests[item[0]]
            req.waiting -= 1
            req.processing += 1
            worker.busy = True
            self._notify()
            try:
                await asyncio.sleep(worker.seconds_per_image)
            finally:
                worker.busy = False
                req.processing -= 1
            if req.cancelled or req.id not in self.requests:
                self._notify()
                continue
            if self._should_fault(req):
                req.faulted = True
                req.finished_at = loop.time()
                self._line = deque(x for x in self._line if x[0] != req.id)
                req.waiting = 0
                self._notify()
                continue
            req.done_images.append(self._render(req, item[1], worker))
            if req.done:
                req.finished_at = loop.time()
            self._notify()

    def _should_fault(self, req: HordeRequest) -> bool:
        return bool(req.payload.get("_fault"))

    def _render(self, req: HordeRequest, index: int, worker: _Worker) -> _Generation:
        params = req.payload.get("params") or {}
        width, height = int(params.get("width", 512)), int(params.get("height", 512))
        seed_text = str(params.get("seed") or secrets.randbelow(2**32))
        try:
            seed = str(int(seed_text) + index * int(params.get("seed_variation", 1)))
        except ValueError:
            seed = seed_text
        prompt = req.payload["prompt"].split("###")[0].lower()
        censored = req.censor and any(w in prompt for w in self.censor_words)
        colour = (0, 0, 0) if censored else _colour(seed)
        buf = io.BytesIO()
        Image.new("RGB", (width, height), colour).save(buf, "WEBP", quality=80)
        data = buf.getvalue()
        token = secrets.token_hex(8)
        self._files[token] = (data, time.monotonic() + 1800)
        img = f"{self.base}/r2/{token}.webp" if req.payload.get("r2", True) and self.r2 else _b64(data)
        model = (req.models or self.models)[0]
        return _Generation(img=img, seed=seed, worker=worker, model=model, censored=censored, token=token)

    def _wait_time(self, req: HordeRequest) -> int:
        workers = [w for w in self.workers if w.serves(req)]
        if not workers:
            return 0
        speed = sum(1 / max(w.seconds_per_image, 1e-3) for w in workers)
        ahead = 0
        for rid, _ in self._line:
            ahead += 1
            if rid == req.id:
                break
        return math.ceil((ahead + req.processing) / speed)

    def _queue_position(self, req: HordeRequest) -> int:
        seen: list[str] = []
        for rid, _ in self._line:
            if rid == req.id:
                return len(seen)
            if rid not in seen:
                seen.append(rid)
        return 0

    # ---- HTTP -----------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.calls.append((method, path, {k: v for k, v in request.headers.items()}, body))
        spec_path = path.removeprefix("/api")
        try:
            if path.startswith("/r2/"):
                return self._download(path)
            if not path.startswith("/api/v2/"):
                raise _error(404, "BadRequest", "not found")
            self._check_agent(request)
            route, arg = self._route(spec_path)
            fail = self._fail.get(route)
            if fail:
                raise fail.popleft()
            handler = getattr(self, f"_h_{route}_{method.lower()}", None)
            if handler is None:
                raise _error(405, "BadRequest", "method not allowed")
            status, result, headers = await handler(request, body, arg)
            response = self._json(status, result, spec_path, method, headers)
        except _Reply as reply:
            response = self._json(reply.status, reply.body, spec_path, method, reply.headers)
        self.responses.append((path, response.status))
        self._notify()
        return response

    @staticmethod
    def _route(path: str) -> tuple[str, str | None]:
        parts = path.strip("/").split("/")  # v2, generate, check, <id>
        if parts[1:3] == ["generate", "async"]:
            return "async", None
        if parts[1:3] == ["generate", "check"] and len(parts) == 4:
            return "check", parts[3]
        if parts[1:3] == ["generate", "status"] and len(parts) == 4:
            return "status", parts[3]
        if parts[1:3] == ["status", "models"]:
            return "models", None
        if parts[1:3] == ["status", "heartbeat"]:
            return "heartbeat", None
        if parts[1:2] == ["find_user"]:
            return "find_user", None
        raise _error(404, "BadRequest", f"no route {path}")

    def _check_agent(self, request: web.Request) -> None:
        agent = request.headers.get("Client-Agent", "")
        if len(agent.split(":")) != 3 or not all(agent.split(":")):
            self.validation_errors.append(f"Client-Agent {agent!r} is not name:version:contact")
            raise _error(400, "BadClientAgent", "Client-Agent must be name:version:contact")

    def _json(
        self, status: int, body: Any, spec_path: str, method: str, headers: Mapping[str, str] | None
    ) -> web.Response:
        template = _template(spec_path)
        validator = _response_validator(template, method, status) if template else None
        if validator is not None:
            for err in validator.iter_errors(body):
                self.response_errors.append(f"{method} {template} {status}: {err.message}")
        return web.json_response(body, status=status, headers=headers)

    def _key(self, request: web.Request) -> str:
        key = request.headers.get("apikey")
        if not key:
            raise _error(
                401,
                "InvalidAPIKey",
                "No user matching sent API Key. Have you remembered to register at https://aihorde.net/register ?",
            )
        if key != ANONYMOUS_KEY and key not in self.keys:
            raise _error(
                401,
                "InvalidAPIKey",
                "No user matching sent API Key. Have you remembered to register at https://aihorde.net/register ?",
            )
        return key

    def _request(self, rid: str | None) -> HordeRequest:
        req = self.requests.get(rid or "")
        if req is None or rid in self.forgotten:
            raise _error(404, "RequestNotFound", f"Request with ID '{rid}' not found.")
        if req.finished_at is not None and asyncio.get_running_loop().time() - req.finished_at > self.expire_after:
            self.forget(req.id)
            raise _error(404, "RequestNotFound", f"Request with ID '{rid}' not found.")
        return req

    # ---- routes ---------------------------------------------------------------------------------

    async def _h_heartbeat_get(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        return 200, {"message": "OK", "version": "4.47.0"}, None

    async def _h_models_get(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        if request.query.get("type", "image") != "image":
            return 200, [], None
        out = []
        for name in self.models:
            count = sum(1 for w in self.workers if w.models is None or name in w.models)
            queued = sum(
                1
                for rid, _ in self._line
                if rid in self.requests and name in (self.requests[rid].models or self.models[:1])
            )
            out.append(
                {
                    "name": name,
                    "count": count,
                    "performance": 1.0,
                    "queued": float(queued),
                    "jobs": float(queued),
                    "eta": 0,
                    "type": "image",
                }
            )
        return 200, out, None

    async def _h_find_user_get(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        key = self._key(request)
        if key == ANONYMOUS_KEY:
            return 200, {"username": "Anonymous#0", "id": 0, "kudos": 0.0, "concurrency": 500, "trusted": False}, None
        kudos = self.keys[key]
        return (
            200,
            {
                "username": f"tester#{len(key)}",
                "id": 1,
                "kudos": kudos,
                "concurrency": self.concurrency,
                "trusted": True,
            },
            None,
        )

    async def _h_async_post(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        if not isinstance(body, dict):
            raise _error(
                400, "BadRequest", "Input payload validation failed", errors={"body": "expected a JSON object"}
            )
        problems = validate_horde("GenerationInputStable", body)
        for key in ("nsfw", "censor_nsfw"):  # the server's parser defaults both to true: Easel always sends both
            if key not in body:
                problems.append(f"{key}: not sent (the server would default it to true)")
        if body.get("nsfw") and body.get("censor_nsfw"):
            problems.append("nsfw and censor_nsfw are both true")
        cfg = (body.get("params") or {}).get("cfg_scale")
        if isinstance(cfg, float) and round(cfg, 2) != cfg:
            raise _error(400, "BadCFGDecimals", "cfg_scale can't have more than 2 decimals.")
        if problems:
            self.validation_errors.extend(problems)
            raise _error(
                400, "BadRequest", "Input payload validation failed", errors={p.split(":")[0]: p for p in problems}
            )
        key = self._key(request)
        if self.maintenance:
            raise _error(400, "MaintenanceMode", "Horde is in maintenance mode. Please try again later.")
        params = dict(body.get("params") or {})
        n = int(params.get("n", 1))
        if key == ANONYMOUS_KEY or self.keys.get(key, 0) <= 0:
            w, h, steps = int(params.get("width", 512)), int(params.get("height", 512)), int(params.get("steps", 30))
            if w * h > 1024 * 1024 or steps > 50:
                if not body.get("allow_downgrade"):
                    raise _error(
                        403,
                        "KudosUpfront",
                        "Due to heavy demand, for requests over 1024x1024 or over 50 steps, the client needs to "
                        "already have the required kudos. This request requires 31.2 kudos to fulfil.",
                    )
                while w * h > 1024 * 1024:
                    w, h = max(64, (w - 64) // 64 * 64), max(64, (h - 64) // 64 * 64)
                params.update(width=w, height=h, steps=min(steps, 50))
                body = {**body, "params": params}
        load = sum(r.waiting + r.processing for r in self.requests.values() if r.key == key and not r.done)
        if load + n > self.concurrency:
            raise _Reply(
                429,
                {"message": "Parallel requests exceeded user limit. Please try again later.", "rc": "TooManyPrompts"},
                {"Retry-After": str(self.retry_after)},
            )
        rid = str(uuid.uuid4())
        models = list(body.get("models") or [])
        payload = dict(body)
        if self._fault_next > 0:
            self._fault_next -= 1
            payload["_fault"] = True
        req = HordeRequest(
            id=rid,
            key=key,
            payload=payload,
            n=n,
            models=models,
            trusted_only=bool(body.get("trusted_workers")),
            censor=bool(body.get("censor_nsfw")) and not body.get("nsfw"),
            created=asyncio.get_running_loop().time(),
            waiting=n,
        )
        self.requests[rid] = req
        self.submits.append(body)
        for i in range(n):
            self._line.append((rid, i))
        answer: dict[str, Any] = {"id": rid, "kudos": float(n * 10)}
        if not any(w.serves(req) for w in self.workers):
            answer["message"] = "Warning: No available workers can fulfill this request. It will expire in 20 minutes."
        self._notify()
        return 202, answer, None

    def _check_body(self, req: HordeRequest) -> dict[str, Any]:
        possible = any(w.serves(req) for w in self.workers)
        return {
            "finished": len(req.done_images),
            "processing": req.processing,
            "restarted": 0,
            "waiting": 0 if req.done else req.waiting,
            "done": req.done and not req.faulted,
            "faulted": req.faulted,
            "wait_time": 0 if req.done else self._wait_time(req),
            "queue_position": 0 if req.done else self._queue_position(req),
            "kudos": float(len(req.done_images) * 10),
            "is_possible": possible or req.done,
        }

    async def _h_check_get(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        req = self._request(arg)
        req.check_calls += 1
        return 200, self._check_body(req), None

    def _status_body(self, req: HordeRequest) -> dict[str, Any]:
        out = self._check_body(req)
        gens = []
        for g in req.done_images:
            item: dict[str, Any] = {
                "img": g.img,
                "seed": g.seed,
                "id": g.id,
                "censored": g.censored,
                "gen_metadata": [{"type": "censorship", "value": "nsfw"}] if g.censored else [],
                "worker_id": g.worker.id,
                "worker_name": g.worker.name,
                "model": g.model,
                "state": "censored" if g.censored else "ok",
            }
            gens.append(item)
        out["generations"] = gens
        out["shared"] = req.key == ANONYMOUS_KEY
        return out

    def _limit_status(self, req: HordeRequest) -> None:
        now = time.monotonic()
        calls = req.status_calls
        while calls and now - calls[0] > 60:
            calls.popleft()
        if len(calls) >= self.status_per_minute:
            raise _Reply(429, {"message": "10 per 1 minute", "rc": "BadRequest"}, {"Retry-After": "60"})
        calls.append(now)

    async def _h_status_get(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        req = self._request(arg)
        self._limit_status(req)
        return 200, self._status_body(req), None

    async def _h_status_delete(self, request: web.Request, body: Any, arg: str | None) -> tuple[int, Any, None]:
        req = self._request(arg)
        req.cancelled = True
        self._line = deque(x for x in self._line if x[0] != req.id)
        req.waiting = 0
        if req.finished_at is None:
            req.finished_at = asyncio.get_running_loop().time()
        return 200, self._status_body(req), None

    def _download(self, path: str) -> web.Response:
        token = path.removeprefix("/r2/").removesuffix(".webp")
        self.downloads.append(token)
        entry = self._files.get(token)
        if entry is None or time.monotonic() > entry[1]:
            return web.Response(status=404, text="NoSuchKey")
        data = entry[0]
        if self._oversize:
            size = self._oversize.popleft()
            data = data[:16] + b"\0" * max(0, size - 16)
        return web.Response(body=data, content_type="image/webp")


def _template(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if parts[1:3] in (["generate", "check"], ["generate", "status"]) and len(parts) == 4:
        return f"/{'/'.join(parts[:3])}/{{id}}"
    return path if path.startswith("/v2/") else None


def _colour(seed: str) -> tuple[int, int, int]:
    h = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
    return (60 + h % 180, 60 + (h >> 8) % 180, 60 + (h >> 16) % 180)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, *rest: object) -> bool:
        return typ is TimeoutError
