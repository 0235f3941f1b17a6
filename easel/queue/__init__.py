"""The durable, fair job queue and one worker per webui backend.

- Every job is a row in the store before the user hears "queued"; the in-memory list mirrors the rows.
- Fair: the next job comes from the guild served least recently, then the user served least recently,
  then the oldest job. One user with ten jobs does not hold back the next user's one.
- Model affinity: a backend prefers a job for the checkpoint it has loaded, so checkpoints are swapped
  rarely; a job is passed over at most ``queue.affinity_max_skips`` times.
- A backend that stops answering is marked down, its job goes back to the line, and it is probed with
  backoff until it answers. Connection errors, timeouts and 5xx are retried ``webui.max_attempts`` times
  in all; a 4xx fails the job at once with the webui's reason.
- After the webui answers, the images are stored (state ``generated``) and delivery runs in its own task,
  so the backend starts the next job at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from easel.catalog import Catalog
from easel.config import BackendConfig, Config
from easel.errors import QueueFull
from easel.infotext import png_parameters
from easel.jobs import Job, JobState, StoredImage, new_error_id
from easel.metrics import METRICS
from easel.queue import scheduling
from easel.request import build_payload
from easel.store import Store, StoreError
from easel.webui import (
    GenerationResult,
    WebuiAuthError,
    WebuiClient,
    WebuiError,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# Waits between retries of a store write that failed (locked by another connection, disk full): about 90 s in all.
STORE_RETRY_DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0)


class Publisher(Protocol):
    """What the queue tells the outside world (Discord). Implementations must not raise for Discord errors
    they can handle; ``deliver`` must be idempotent for a job (same nonce, same message)."""

    async def queued(self, job: Job, position: int, eta: float | None) -> None: ...
    async def started(self, job: Job, backend: str) -> None: ...
    async def progress(self, job: Job, fraction: float, eta: float | None, preview: bytes | None) -> None: ...
    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        """Post the result. ``recovered``: the bot restarted after the images were stored, so the result may
        already be posted; find it instead of posting twice."""
        ...

    async def failed(self, job: Job, message: str) -> None: ...
    async def cancelled(self, job: Job) -> None: ...


@dataclass
class Backend:
    cfg: BackendConfig
    client: WebuiClient
    up: bool = False
    last_error: str | None = None
    loaded_model: str | None = None
    current: Job | None = None
    seconds_per_unit: float | None = None  # measured: seconds per (steps × megapixels × images)
    swaps: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.cfg.name

    def estimate(self, job: Job) -> float:
        return scheduling.estimate_seconds(job.request, self.seconds_per_unit)

    def learn(self, job: Job, seconds: float) -> None:
        self.seconds_per_unit = scheduling.learn_seconds_per_unit(self.seconds_per_unit, job.request, seconds)


@dataclass(frozen=True)
class CancelResult:
    ok: bool
    message: str


class JobQueue:
    def __init__(
        self,
        cfg: Config,
        store: Store,
        catalog: Catalog,
        backends: list[Backend],
        publisher: Publisher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.catalog = catalog
        self.backends = {b.name: b for b in backends}
        self.publisher = publisher
        self._clock = clock
        self._queued: dict[str, Job] = {}  # id -> job, in the order they joined
        self._queued_by_user: Counter[int] = Counter()
        self._queued_by_guild: Counter[int] = Counter()
        # submits checked against the limits whose store write is still under way (count as in line)
        self._reserved_by_user: Counter[int] = Counter()
        self._reserved_by_guild: Counter[int] = Counter()
        self._reserved = 0
        self._positions: dict[str, int] | None = None
        self._running: dict[str, Job] = {}
        self._cancel_requested: set[str] = set()
        self._task_ids: dict[str, str] = {}
        self._guild_served: dict[int, int] = {}
        self._user_served: dict[int, int] = {}
        self._tick = 0
        self._order_cache: list[Job] | None = None
        self._edit_slots = asyncio.Semaphore(8)
        self._last_submit: dict[int, float] = {}
        self._sent_position: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._deliveries: set[asyncio.Task[None]] = set()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.generated_count = 0
        self.restarts = 0  # supervised tasks restarted after dying

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load unfinished jobs from the store and start one worker per backend."""
        for job in await self.store.active_jobs():
            if job.state == JobState.RUNNING and job.attempts >= self.cfg.webui.max_attempts:
                await self._fail(job, "The job was interrupted too many times.", error_id=new_error_id())
                continue
            if job.state == JobState.RUNNING:
                log.info("job %s: was running at shutdown, queued again", job.id)
                await self.store.update(job, state=JobState.QUEUED, backend=None)
            if job.state == JobState.QUEUED:
                self._put(job)
            elif job.state == JobState.GENERATED:
                log.info("job %s: generated before shutdown, delivering now", job.id)
                self._spawn_delivery(job, recovered=True)
        for backend in self.backends.values():
            self._supervise(f"easel-worker-{backend.name}", lambda b=backend: self._worker(b))  # type: ignore[misc]
        self._supervise("easel-status", self._status_loop)
        self._supervise("easel-housekeeping", self._housekeeping)
        self._notify()

    def _supervise(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a long-lived loop; if it dies of an exception it is logged and started again (with backoff)."""

        async def supervised() -> None:
            delay = 1.0
            while not self._stopping:
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("task %s died; restarting it in %.0f s", name, delay)
                    self.restarts += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    @property
    def store_ok(self) -> bool:
        """False while the store's last operation failed (locked, disk full): /status says "store unavailable"."""
        return self.store.healthy

    async def _store_retry(self, what: str, op: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a store operation, retrying with backoff while it fails (bounded); raises the last StoreError."""
        for attempt, delay in enumerate((*STORE_RETRY_DELAYS, None), start=1):
            try:
                return await op()
            except StoreError as exc:
                if delay is None or self._stopping:
                    log.error("store: %s failed %d times, giving up: %s", what, attempt, exc)
                    raise
                log.warning("store: %s failed (%s); retrying in %.2g s", what, exc, delay)
                self._changed.set()
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def stop(self, grace: float = 0.0) -> None:
        """Stop taking jobs; let running jobs finish for ``grace`` seconds, then leave them queued."""
        self._stopping = True
        self._notify()
        if grace > 0 and self._running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    while self._running:
                        await self._wait_changed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._deliveries:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(grace, 5.0)):
                    await asyncio.gather(*self._deliveries, return_exceptions=True)

    def _put(self, job: Job) -> None:
        if job.id in self._queued:
            return
        self._queued[job.id] = job
        self._queued_by_user[job.user_id] += 1
        self._queued_by_guild[job.fairness_guild] += 1
        self._invalidate()

    def _take(self, job: Job) -> None:
        if self._queued.pop(job.id, None) is None:
            return
        _decrement(self._queued_by_user, job.user_id)
        _decrement(self._queued_by_guild, job.fairness_guild)
        self._invalidate()

    def _is_queued(self, job: Job) -> bool:
        return job.id in self._queued

    def _invalidate(self) -> None:
        self._order_cache = None
        self._positions = None

    def _notify(self) -> None:
        self._invalidate()
        self._changed.set()
        for backend in self.backends.values():
            backend.wake.set()

    async def _wait_changed(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    async def wait_changed(self) -> None:
        """Until the queue or a backend's state changes next (callers bound it with a timeout)."""
        await self._wait_changed()

    # ---- submitting -------------------------------------------------------------------------

    def check_user(
        self,
        user_id: int,
        *,
        max_queued: int | None = None,
        cooldown: float | None = None,
        guild_id: int | None = None,
    ) -> None:
        """Refuse (QueueFull) when the line is full (in all, or for the guild), the user is at their limit of
        waiting jobs, or in cooldown. Jobs being stored right now count as in line."""
        lim = self.cfg.limits
        max_queued = lim.max_queued_per_user if max_queued is None else max_queued
        cooldown = lim.cooldown_seconds if cooldown is None else cooldown
        in_line = len(self._queued) + self._reserved
        if in_line >= lim.max_queue_length:
            raise QueueFull(f"The line is full ({lim.max_queue_length} jobs); try again in a few minutes.")
        guild = guild_id or 0
        if guild and self._queued_by_guild[guild] + self._reserved_by_guild[guild] >= lim.max_queued_per_guild:
            raise QueueFull(
                f"This server's line is full ({lim.max_queued_per_guild} jobs); try again in a few minutes."
            )
        waiting = self._queued_by_user[user_id] + self._reserved_by_user[user_id]
        waiting += sum(1 for j in self._running.values() if j.user_id == user_id)
        if waiting >= max_queued:
            raise QueueFull(
                f"You already have {waiting} job(s) in line (limit {max_queued}); wait for one to finish "
                "or /cancel one."
            )
        last = self._last_submit.get(user_id)
        if cooldown and last is not None:
            left = last + cooldown - self._clock()
            if left > 0:
                raise QueueFull(f"Slow down: you can draw again in {left:.0f} s.")

    async def submit(self, job: Job, **limits: float | int | None) -> int:
        """Store the job and put it in line; returns its 1-based position. Raises QueueFull."""
        if self._stopping:
            raise QueueFull("Easel is shutting down; try again in a minute.")
        # Check and reserve in one step, before any await: concurrent submits cannot all pass the same check.
        self.check_user(job.user_id, guild_id=job.guild_id, **limits)  # type: ignore[arg-type]
        self._last_submit[job.user_id] = self._clock()
        self._reserve(job, 1)
        try:
            await self.store.add_job(job)
        except StoreError as exc:
            log.error("job %s: could not be stored: %s", job.id, exc)
            raise QueueFull(
                "Easel cannot save new jobs right now (its database is busy); try again in a minute."
            ) from exc
        finally:
            self._reserve(job, -1)
        self._put(job)
        log.info("job %s: queued by user %s in guild %s (%s)", job.id, job.user_id, job.guild_id, job.request.kind)
        self._notify()
        position = self.position(job.id) or len(self._queued)
        self._sent_position[job.id] = position
        return position

    def _reserve(self, job: Job, n: int) -> None:
        self._reserved += n
        for counter, key in ((self._reserved_by_user, job.user_id), (self._reserved_by_guild, job.fairness_guild)):
            counter[key] += n
            if counter[key] <= 0:
                del counter[key]

    # ---- looking at the line ----------------------------------------------------------------

    def fair_order(self) -> list[Job]:
        """The queued jobs in the order they would start (ignoring model affinity); see
        ``scheduling.fair_order``. Cached until the line or the served order changes."""
        if self._order_cache is None:
            self._order_cache = scheduling.fair_order(
                self._queued.values(), self._guild_served, self._user_served, self._tick + 1
            )
        return list(self._order_cache)

    def position(self, job_id: str) -> int | None:
        if self._positions is None or self._order_cache is None:
            self._positions = {job.id: i for i, job in enumerate(self.fair_order(), start=1)}
        return self._positions.get(job_id)

    def queued_jobs(self) -> list[Job]:
        return self.fair_order()

    def running_jobs(self) -> list[Job]:
        return list(self._running.values())

    def user_jobs(self, user_id: int) -> list[tuple[Job, int | None]]:
        running = [(j, None) for j in self._running.values() if j.user_id == user_id]
        queued = [(j, i) for i, j in enumerate(self.fair_order(), start=1) if j.user_id == user_id]
        return running + queued

    def estimate_starts(self) -> dict[str, float]:
        """Unix time at which each queued job should start, from each backend's measured speed."""
        up = [b for b in self.backends.values() if b.up]
        if not up:
            return {}
        now = self._clock()
        free_at = []
        for b in up:
            cur = b.current
            remaining = 0.0
            if cur is not None and cur.started_at is not None:
                remaining = max(0.0, cur.started_at + b.estimate(cur) - now)
            free_at.append(now + remaining)
        return scheduling.estimate_starts(self.fair_order(), free_at, [b.estimate for b in up])

    def estimate_start(self, job_id: str) -> float | None:
        return self.estimate_starts().get(job_id)

    # ---- cancelling -------------------------------------------------------------------------

    def find(self, job_id: str) -> Job | None:
        if job_id in self._running:
            return self._running[job_id]
        return self._queued.get(job_id)

    async def cancel(self, job_id: str, user_id: int, *, moderator: bool = False) -> CancelResult:
        job = self.find(job_id)
        if job is None:
            return CancelResult(False, f"No waiting or running job `{job_id}`.")
        if job.user_id != user_id and not moderator:
            return CancelResult(False, "You can only cancel your own jobs.")
        if self._is_queued(job):
            self._take(job)
            try:
                await self.store.update(job, state=JobState.CANCELLED, finished_at=self._clock())
            except StoreError as exc:
                log.error("job %s: cancelling failed: %s", job.id, exc)
                self._put(job)
                return CancelResult(False, "Easel cannot save that right now (its database is busy); try again soon.")
            log.info("job %s: cancelled while queued by user %s", job.id, user_id)
            self._notify()
            await self._safe(self.publisher.cancelled(job), job)
            return CancelResult(True, f"Cancelled job `{job.id}`.")
        self._cancel_requested.add(job.id)
        backend = self.backends.get(job.backend or "")
        if backend is not None:
            try:
                # Interrupt acts on whatever the webui is running: only send it when the webui says this job is
                # the active one (per-task progress), or when Easel has the webui to itself.
                task_id = self._task_ids.get(job.id)
                tp = await backend.client.task_progress(task_id) if task_id else None
                if tp is not None and not tp.active:
                    log.info("job %s: waiting inside the webui; it will be dropped when it returns", job.id)
                    return CancelResult(True, f"Cancelled job `{job.id}`; it will stop before it draws.")
                await backend.client.interrupt()
            except WebuiError as exc:
                log.warning("job %s: interrupt on %s failed: %s", job.id, backend.name, exc)
        log.info("job %s: cancel requested while running on %s by user %s", job.id, job.backend, user_id)
        return CancelResult(True, f"Stopping job `{job.id}` on {job.backend}.")

    async def clear_guild(self, guild_id: int, *, by: int) -> int:
        """Cancel every waiting (not running) job of a guild (/mod clear-queue). Returns how many."""
        jobs = [j for j in self._queued.values() if j.guild_id == guild_id]
        now = self._clock()
        done: list[Job] = []
        for job in jobs:
            try:
                await self.store.update(job, state=JobState.CANCELLED, finished_at=now)
            except StoreError as exc:
                log.error("job %s: clearing failed: %s", job.id, exc)
                break
            self._take(job)
            done.append(job)
            log.info("job %s: cancelled by moderator %s (queue of guild %s cleared)", job.id, by, guild_id)
        jobs = done
        if jobs:
            self._notify()
        for job in jobs:
            await self._safe(self.publisher.cancelled(job), job)
        return len(jobs)

    # ---- workers ----------------------------------------------------------------------------

    def _eligible(self, job: Job, backend: Backend) -> bool:
        model = job.request.model
        if model is None:
            return True
        # A job queued while no backend had answered yet carries the name as typed: resolve it now.
        return self.catalog.backend_has_model(backend.name, self.catalog.resolve_model(model) or model)

    def _matches_loaded(self, job: Job, backend: Backend) -> bool:
        return job.request.model is None or job.request.model == backend.loaded_model

    def pick(self, backend: Backend) -> Job | None:
        """Choose the next job for ``backend``: fair order, preferring its loaded model, bounded skips."""
        order = [j for j in self.fair_order() if self._eligible(j, backend)]
        job, skipped = scheduling.pick_with_affinity(
            order,
            matches_loaded=lambda j: self._matches_loaded(j, backend),
            max_skips=self.cfg.queue.affinity_max_skips,
        )
        for passed in skipped:
            passed.passed_over += 1
        return job

    async def _orphans(self) -> None:
        """Fail queued jobs whose model no known backend has any more (all backends listed)."""
        if len(self.backends) == 0 or any(self.catalog.get(b) is None for b in self.backends):
            return
        for job in list(self._queued.values()):
            model = job.request.model
            if model is not None and not self.catalog.backends_with_model(self.catalog.resolve_model(model) or model):
                self._take(job)
                await self._fail(job, f"The model {model!r} is no longer on any backend.", error_id=None)

    async def _worker(self, backend: Backend) -> None:
        delay = 1.0
        store_delay = 0.25
        while not self._stopping:
            if not backend.up:
                if await self._probe(backend):
                    delay = 1.0
                    self._notify()
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.cfg.webui.probe_max_interval)
                continue
            await self._orphans()
            job = self.pick(backend)
            if job is None:
                backend.wake.clear()
                try:
                    async with asyncio.timeout(self.cfg.webui.catalog_refresh):
                        await backend.wake.wait()
                except TimeoutError:
                    await self._refresh_catalog(backend)
                continue
            try:
                await self._run(backend, job)
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                # The job is back in line (the store still says queued): wait for the store, then go on.
                log.warning(
                    "backend %s: could not start job %s (%s); retrying in %.2g s",
                    backend.name,
                    job.id,
                    exc,
                    store_delay,
                )
                await asyncio.sleep(store_delay)
                store_delay = min(store_delay * 2, 30.0)
                continue
            except Exception as exc:  # a bug must not kill the worker
                error_id = new_error_id()
                log.exception("job %s: unexpected error on %s [error %s]", job.id, backend.name, error_id)
                self._take(job)
                self._running.pop(job.id, None)
                backend.current = None
                await self._fail(job, f"Easel hit an internal error ({type(exc).__name__}).", error_id=error_id)
            store_delay = 0.25

    async def _probe(self, backend: Backend) -> bool:
        ok = await self._refresh_catalog(backend)
        if ok:
            log.info("backend %s: up", backend.name)
        return ok

    async def _refresh_catalog(self, backend: Backend) -> bool:
        try:
            cat = await self.catalog.refresh(backend.name, backend.client)
        except WebuiError as exc:
            if backend.up or backend.last_error != str(exc):
                log.warning("backend %s: down: %s", backend.name, exc)
            backend.up = False
            backend.last_error = str(exc)
            return False
        if not backend.up:
            backend.up = True
            self._changed.set()
        backend.last_error = None
        if backend.current is None:
            backend.loaded_model = cat.loaded_model
        return True

    async def _run(self, backend: Backend, job: Job) -> None:
        self._take(job)
        self._running[job.id] = job
        self._tick += 1
        self._guild_served[job.fairness_guild] = self._tick
        self._user_served[job.user_id] = self._tick
        self._order_cache = None
        backend.current = job
        now = self._clock()
        try:
            await self.store.update(
                job, state=JobState.RUNNING, backend=backend.name, started_at=now, attempts=job.attempts + 1
            )
        except BaseException:
            backend.current = None
            self._running.pop(job.id, None)
            self._put(job)
            self._notify()
            raise
        self._notify()
        upscale = job.request.upscale
        wanted = job.request.model and (self.catalog.resolve_model(job.request.model) or job.request.model)
        model = None if upscale else (wanted or backend.loaded_model)
        title = self.catalog.model_title(backend.name, model) if model else None
        if model and model != backend.loaded_model:
            backend.swaps += 1
        log.info(
            "job %s: started on %s (attempt %d, model %s)",
            job.id,
            backend.name,
            job.attempts,
            model or "loaded",
        )
        # Not awaited: the generation starts now, whatever Discord's round trip costs (the publisher keeps a
        # job's edits in order).
        self._background(self._safe(self.publisher.started(job, backend.name), job))
        task_id = f"easel-{job.id}-{job.attempts}"
        self._task_ids[job.id] = task_id
        progress_task = asyncio.create_task(self._watch_progress(backend, job, task_id))
        started = time.monotonic()
        try:
            if upscale:
                result = await self._upscale(backend, job)
            elif job.request.img2img:
                payload = build_payload(job.request, model_title=title or model)
                result = await backend.client.img2img(payload, task_id=task_id)
            else:
                payload = build_payload(job.request, model_title=title or model)
                result = await backend.client.txt2img(payload, task_id=task_id)
        except WebuiError as exc:
            await self._on_error(backend, job, exc)
            return
        except asyncio.CancelledError:
            # Shutdown: the job goes back in line (stored) and runs again at the next start. A graceful stop
            # does not count as an attempt; a crash (kill -9) leaves it "running", which counts.
            log.info("job %s: interrupted by shutdown; it will run again at the next start", job.id)
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.store.update(job, state=JobState.QUEUED, backend=None, attempts=job.attempts - 1)
                )
            raise
        finally:
            progress_task.cancel()
            self._task_ids.pop(job.id, None)
            backend.current = None
            self._running.pop(job.id, None)
            self._notify()
        seconds = time.monotonic() - started
        if model:
            backend.loaded_model = model
        if job.id in self._cancel_requested:
            self._cancel_requested.discard(job.id)
            with contextlib.suppress(StoreError):  # still "running" in the store: a restart runs it again
                await self._store_retry(
                    f"cancelling job {job.id}",
                    lambda: self.store.update(job, state=JobState.CANCELLED, finished_at=self._clock()),
                )
            log.info("job %s: cancelled while running on %s", job.id, backend.name)
            await self._safe(self.publisher.cancelled(job), job)
            return
        METRICS.observe_generation(seconds)
        backend.learn(job, seconds)
        # Storing (MBs of PNG into SQLite) and posting happen in their own task, so this backend's worker sends
        # the next job at once. Until the images are stored the job is "running" in the store: a crash in
        # between runs it again, like a crash during generation.
        self._track(asyncio.create_task(self._store_result(job, result, seconds), name=f"easel-store-{job.id}"))

    async def _upscale(self, backend: Backend, job: Job) -> GenerationResult:
        r = job.request
        started = time.monotonic()
        data = await backend.client.extra_single_image(r.init_image or b"", upscaler=r.upscaler, scale=r.upscale_factor)
        info = png_parameters(data) or ""
        return GenerationResult(
            images=(data,),
            infotexts=(info,),
            seeds=(r.seed,),
            subseeds=(),
            info={},
            parameters={},
            elapsed=time.monotonic() - started,
        )

    async def _store_result(self, job: Job, result: GenerationResult, seconds: float) -> None:
        try:
            await self._store_and_deliver(job, result, seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error_id = new_error_id()
            log.exception("job %s: storing the result failed [error %s]", job.id, error_id)
            with contextlib.suppress(Exception):
                await self._fail(job, f"Easel could not store the result ({type(exc).__name__}).", error_id=error_id)

    async def _store_and_deliver(self, job: Job, result: GenerationResult, seconds: float) -> None:
        if not result.images:
            await self._fail(job, "The webui returned no image (it was interrupted).", error_id=None)
            return
        images = [
            StoredImage(
                i,
                data,
                result.infotexts[i] if i < len(result.infotexts) else "",
                result.seeds[i] if i < len(result.seeds) else job.request.seed,
            )
            for i, data in enumerate(result.images)
        ]
        await self._store_retry(f"storing job {job.id}'s result", lambda: self.store.save_result(job, images, seconds))
        self.generated_count += 1
        log.info("job %s: generated %d image(s) in %.2f s", job.id, len(images), seconds)
        await self._deliver(job, images, recovered=False)

    async def _on_error(self, backend: Backend, job: Job, exc: WebuiError) -> None:
        error_id = new_error_id()
        if exc.retryable:
            if isinstance(exc, WebuiUnavailable | WebuiTimeout):
                backend.up = False
                backend.last_error = str(exc)
                log.warning("backend %s: down (%s) [error %s]", backend.name, exc, error_id)
                if isinstance(exc, WebuiTimeout):
                    with contextlib.suppress(WebuiError):
                        await backend.client.interrupt()
            if job.attempts < self.cfg.webui.max_attempts:
                log.warning(
                    "job %s: attempt %d on %s failed (%s) [error %s]; back in line",
                    job.id,
                    job.attempts,
                    backend.name,
                    exc,
                    error_id,
                )
                with contextlib.suppress(StoreError):  # the store says running: a restart queues it again anyway
                    await self._store_retry(
                        f"queueing job {job.id} again",
                        lambda: self.store.update(job, state=JobState.QUEUED, backend=None),
                    )
                self._put(job)
                self._notify()
                return
        log.error("job %s: failed on %s: %s [error %s]", job.id, backend.name, exc, error_id)
        await self._fail(job, _user_message(exc), error_id=error_id)

    async def _fail(self, job: Job, message: str, *, error_id: str | None) -> None:
        try:
            await self._store_retry(
                f"failing job {job.id}",
                lambda: self.store.update(
                    job, state=JobState.FAILED, error=message, error_id=error_id, finished_at=self._clock()
                ),
            )
        except StoreError:
            pass  # logged; the user is told all the same
        text = f"{message} (error id `{error_id}`)" if error_id else message
        await self._safe(self.publisher.failed(job, text), job)

    # ---- delivery ---------------------------------------------------------------------------

    def _spawn_delivery(self, job: Job, images: list[StoredImage] | None = None, *, recovered: bool = False) -> None:
        self._track(asyncio.create_task(self._deliver(job, images, recovered), name=f"easel-deliver-{job.id}"))

    def _track(self, task: asyncio.Task[None]) -> None:
        """A storing/posting task: shutdown and ``wait_idle`` wait for these."""
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        task.add_done_callback(lambda _: self._notify())

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Fire and forget (a status edit), keeping a reference so the task is not collected mid-way."""
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _deliver(self, job: Job, images: list[StoredImage] | None, recovered: bool) -> None:
        if images is None:
            try:
                images = await self._store_retry(
                    f"loading job {job.id}'s result", lambda: self.store.load_result(job.id)
                )
            except StoreError:
                return  # still "generated" in the store: delivered at the next start
        delay = 2.0
        posting_started = time.monotonic()
        for attempt in range(1, 4):
            try:
                message_id = await self.publisher.deliver(job, images, recovered=recovered)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error_id = new_error_id()
                log.exception("job %s: delivery attempt %d failed [error %s]", job.id, attempt, error_id)
                if attempt == 3:
                    await self._fail(job, f"Posting the result failed ({type(exc).__name__}).", error_id=error_id)
                    return
                await asyncio.sleep(delay)
                delay *= 2
                continue
            keep = self.cfg.storage.keep_results_days > 0
            with contextlib.suppress(StoreError):  # left "generated": the next start finds the post (idempotent)
                await self._store_retry(
                    f"marking job {job.id} delivered",
                    lambda m=message_id, k=keep: self.store.mark_delivered(job, m, keep_images=k),  # type: ignore[misc]
                )
            METRICS.observe_delivery(time.monotonic() - posting_started)
            log.info("job %s: delivered (message %s)", job.id, message_id)
            self._notify()
            return

    async def wait_idle(self) -> None:
        """Until nothing is queued, running or being delivered (tests and benches)."""
        while self._queued or self._running or self._deliveries:
            if self._deliveries and not (self._queued or self._running):
                await asyncio.gather(*list(self._deliveries), return_exceptions=True)
                continue
            await self._wait_changed()

    # ---- progress and position updates ------------------------------------------------------

    async def _watch_progress(self, backend: Backend, job: Job, task_id: str) -> None:
        interval = self.cfg.queue.status_interval
        if interval <= 0:
            return
        use_task_route = True
        while True:
            await asyncio.sleep(interval)
            try:
                if use_task_route:
                    tp = await backend.client.task_progress(task_id)
                    if tp is None:
                        use_task_route = False
                    elif tp.active:
                        await self._safe(self.publisher.progress(job, tp.progress, tp.eta, tp.live_preview), job)
                        continue
                    else:
                        continue
                if backend.cfg.exclusive:
                    p = await backend.client.progress()
                    if not p.idle:
                        await self._safe(self.publisher.progress(job, p.progress, p.eta_relative, p.current_image), job)
                else:
                    return  # no per-task progress and the global one may be someone else's
            except WebuiError as exc:
                log.debug("job %s: progress poll failed: %s", job.id, exc)

    async def _status_loop(self) -> None:
        """Tell waiting users when their position changes, at most every ``queue.status_interval`` s."""
        interval = self.cfg.queue.status_interval
        if interval <= 0:
            return
        interval = max(interval, 0.1)
        while True:
            await asyncio.sleep(interval)
            starts = self.estimate_starts()
            changed = []
            for position, job in enumerate(self.fair_order(), start=1):
                if self._sent_position.get(job.id) != position:
                    self._sent_position[job.id] = position
                    changed.append((job, position))
            # Each reply has its own webhook token (its own rate-limit bucket): edit several at once.
            await asyncio.gather(*(self._tell_position(job, pos, starts.get(job.id)) for job, pos in changed))
            for job_id in list(self._sent_position):
                if job_id not in self._queued:
                    del self._sent_position[job_id]

    @property
    def all_down(self) -> bool:
        return not any(b.up for b in self.backends.values())

    async def _housekeeping(self) -> None:
        """Refresh the busy backends' lists (idle workers refresh their own) and drop old result images."""
        interval = self.cfg.webui.catalog_refresh
        last_purge = 0.0
        while True:
            await asyncio.sleep(interval)
            for backend in self.backends.values():
                if backend.up and backend.current is not None:
                    await self._refresh_catalog(backend)
            keep = self.cfg.storage.keep_results_days
            now = self._clock()
            if keep > 0 and now - last_purge > 3600:
                last_purge = now
                try:
                    dropped = await self.store.purge_results(now - keep * 86400)
                except Exception:
                    log.exception("store: purging old results failed")
                else:
                    if dropped:
                        log.info("store: dropped the images of %d results older than %g days", dropped, keep)

    async def _tell_position(self, job: Job, position: int, eta: float | None) -> None:
        async with self._edit_slots:
            await self._safe(self.publisher.queued(job, position, eta), job)

    async def _safe(self, coro: object, job: Job) -> None:
        try:
            await coro  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: publisher call failed", job.id)


def _decrement(counter: Counter[int], key: int) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def _user_message(exc: WebuiError) -> str:
    if isinstance(exc, WebuiUnavailable):
        return "The image server is down or unreachable, and retries ran out."
    if isinstance(exc, WebuiTimeout):
        return "The image server took too long to answer, and retries ran out."
    if isinstance(exc, WebuiAuthError):
        return "The image server refused Easel's credentials; tell the bot admin."
    if isinstance(exc, WebuiServerError):
        return f"The image server failed: {exc.message or 'internal error'}"
    return f"The image server refused the request: {exc.message or 'bad request'}"
