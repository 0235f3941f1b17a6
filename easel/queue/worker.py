"""The per-backend worker: probe a backend until it answers, take the next job for it, run it, retry or fail.

- A backend that stops answering is marked down, its job goes back to the line, and it is probed with
  backoff until it answers. Connection errors, timeouts and 5xx are retried ``webui.max_attempts`` times
  in all; a 4xx fails the job at once with the webui's reason.
- After the webui answers, the images are stored (state ``generated``) and delivery runs in its own task,
  so the backend starts the next job at once.
- A store failure (database locked, disk full) never ends a worker: the job goes back in line and the
  worker retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from easel.backends.base import GenerationResult
from easel.backends.errors import (
    WebuiAuthError,
    WebuiError,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
    WrongModel,
)
from easel.backends.horde.client import HordeClient, HordeRefusal
from easel.catalog import Catalog
from easel.config import Config, HordeMode
from easel.errors import RequestError
from easel.i18n import N_, _, set_locale
from easel.infotext import png_parameters
from easel.jobs import Job, JobState, StoredImage, new_error_id
from easel.metrics import METRICS
from easel.queue import scheduling
from easel.queue.backend import Backend, can_restore_faces
from easel.queue.horde import HordeScheduling
from easel.queue.publisher import Publisher
from easel.request import DrawRequest
from easel.store import Store, StoreError
from easel.texts.results import capability_names
from easel.tools import face_payload
from easel.tools.images import with_parameters
from easel.tools.outpaint import outpaint_inputs

log = logging.getLogger(__name__)

# How often the worker asks a backend about a task while it waits for it to be acknowledged (before sending the
# next job behind it) or, cancelled, for it to start (to interrupt it at once).
PREFETCH_POLL = 0.02
# A cancelled job waiting at the backend is polled every CANCEL_BEHIND_POLL s while Easel's own job runs before it,
# every PREFETCH_POLL s for CANCEL_FAST_WINDOW s once that one has ended, then every CANCEL_SLOW_POLL s.
CANCEL_BEHIND_POLL = 0.05
CANCEL_FAST_WINDOW = 2.0
CANCEL_SLOW_POLL = 0.25

STORE_FAILED = N_(
    "Easel could not save the result (its database is busy or full); the bot admin can see why in the log."
)


@dataclass(frozen=True)
class Stall:
    """Why the watchdog abandoned a generation; ``active``: the webui was running it (so it is ours to stop)."""

    reason: str
    active: bool


class BackendWorkers(HordeScheduling):
    """One worker loop per backend: probe, pick, run, retry. Mixed into ``JobQueue``, whose line and state it
    shares (the attributes below are set by ``JobQueue.__init__``; ``pick``, ``_take``, ``_put``, ``_notify``,
    ``_safe``, ``_background``, ``_track``, ``_deliver`` and ``_store_retry`` are ``JobQueue``'s)."""

    cfg: Config
    store: Store
    catalog: Catalog
    publisher: Publisher
    backends: dict[str, Backend]
    generated_count: int
    _clock: Callable[[], float]
    _queued: dict[str, Job]
    _running: dict[str, Job]
    _cancel_requested: set[str]
    _task_ids: dict[str, str]
    _guild_served: dict[int, int]
    _user_served: dict[int, int]
    _tick: int
    _stopping: bool
    _changed: asyncio.Event
    _horde_modes: dict[str, HordeMode]

    def _eligible(self, job: Job, backend: Backend) -> bool:
        if backend.name in job.avoid_backends:
            return False
        if not scheduling.needed_capabilities(job.request) <= backend.capabilities:
            return False
        if job.request.face_restore and not can_restore_faces(backend):  # describe: by capability (above)
            return False
        if not self.catalog.supports(backend.name, job.request):  # its LoRAs, its face fix (easel.catalog)
            return False
        horde = self._horde_eligible(job, backend)  # the AI Horde's routing (easel.queue.horde)
        if horde is not None:
            return horde
        model = job.request.model
        if model is None:
            return True
        # A job queued while no backend had answered yet carries the name as typed: resolve it now.
        return self.catalog.backend_has_model(backend.name, self.catalog.resolve_model(model) or model)

    def _matches_loaded(self, job: Job, backend: Backend) -> bool:
        return job.request.model is None or job.request.model == backend.expected_model

    def _prefetching(self, backend: Backend) -> bool:
        """Send the next job while one runs: only where the backend can follow one task (a prefetched job that is
        cancelled must be stopped the moment it starts, and the watchdog must tell waiting from lost) and Easel
        has it to itself (on a shared webui another client's work would sit between the two)."""
        return self.cfg.queue.prefetch and backend.cfg.exclusive and backend.follows_tasks

    def _release(self, backend: Backend, job: Job) -> None:
        """``job`` is no longer in flight on ``backend``. A job sent ahead behind it now runs: its requester is told
        it started (not before: it waited in the webui's line), and its time is counted from now."""
        was_first = bool(backend.runs) and backend.runs[0] is job
        with contextlib.suppress(ValueError):
            backend.runs.remove(job)
        backend.sent_models.pop(job.id, None)
        backend.sent.discard(job.id)
        backend.active_since.pop(job.id, None)
        if was_first and backend.runs:
            nxt = backend.runs[0]
            if nxt.id in backend.active_since:  # it was sent already (waiting at the webui)
                backend.active_since[nxt.id] = time.monotonic()
                if nxt.id not in self._cancel_requested:
                    self._background(self._safe(self.publisher.started(nxt, backend.name), nxt))

    async def _orphans(self) -> None:
        """Fail queued jobs that no backend can run: one needing a capability no backend has (every backend has
        said what it can do), or a model no known backend has any more (all backends listed)."""
        if self.backends and all(b.description is not None for b in self.backends.values()):
            abilities = [b.capabilities for b in self.backends.values()]
            for job in list(self._queued.values()):
                needed = scheduling.needed_capabilities(job.request)
                if not any(needed <= can for can in abilities):
                    missing = needed - frozenset().union(*abilities)
                    self._take(job)
                    set_locale(job.locale)
                    message = _("No image server of this bot can do this ({missing}).")
                    await self._fail(job, message.format(missing=capability_names(missing)), error_id=None)
        if len(self.backends) == 0 or any(self.catalog.get(b) is None for b in self.backends):
            return
        for job in list(self._queued.values()):
            model = job.request.model
            set_locale(job.locale)  # the failure is told in the requester's language
            if model is not None and not self.catalog.backends_with_model(self.catalog.resolve_model(model) or model):
                self._take(job)
                await self._fail(
                    job, _("The model {model!r} is no longer on any backend.").format(model=model), error_id=None
                )
            elif not any(self.catalog.supports(b, job.request) for b in self.backends):  # its LoRAs, its face fix
                self._take(job)
                await self._fail(job, _("No image server has this job's LoRAs or face fix any more."), error_id=None)

    async def _worker(self, backend: Backend) -> None:
        delay = 1.0
        try:
            while not self._stopping:
                if not backend.up:
                    if backend.run_tasks:  # what is in flight ends first (it finishes, or fails and is retried)
                        await asyncio.wait(set(backend.run_tasks))
                        continue
                    if await self._probe(backend):
                        delay = 1.0
                        self._notify()
                    else:
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.cfg.webui.probe_max_interval)
                    continue
                await self._orphans()
                await self._horde_orphans()
                if backend.run_tasks and not await self._can_prefetch(backend):
                    if backend.run_tasks:  # (it may have ended while the backend was asked)
                        await asyncio.wait(set(backend.run_tasks), return_when=asyncio.FIRST_COMPLETED)
                    continue
                job = self.pick(backend, prefetch=bool(backend.run_tasks))
                if job is None:
                    await self._idle(backend)
                    continue
                self._claim(backend, job)
                set_locale(job.locale)  # what the worker tells the requester (failures) is in their language
                if not self._prefetching(backend):
                    # One job at a time: run it here, so that the next job's start is queued in the store before
                    # this one's result (MBs of images) is (and no task hop sits between two jobs).
                    await self._run_guarded(backend, job)
                    continue
                task = asyncio.create_task(self._run_guarded(backend, job), name=f"easel-run-{job.id}")
                backend.run_tasks.add(task)
                task.add_done_callback(backend.run_tasks.discard)
        finally:
            for task in list(backend.run_tasks):
                task.cancel()
            if backend.run_tasks:
                await asyncio.gather(*backend.run_tasks, return_exceptions=True)

    async def _idle(self, backend: Backend) -> None:
        """Nothing to send: wait for a new job (``wake``) or for a run in flight to end; refresh the catalog after
        ``catalog_refresh`` s of nothing at all."""
        backend.wake.clear()
        waker = asyncio.ensure_future(backend.wake.wait())
        try:
            done, _ = await asyncio.wait(
                {waker, *backend.run_tasks}, timeout=self.cfg.webui.catalog_refresh, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waker.cancel()
        if not done and not backend.run_tasks:
            await self._refresh_catalog(backend)

    async def _can_prefetch(self, backend: Backend) -> bool:
        """Whether one more job may be sent to ``backend`` now: prefetch is on for it, exactly one job is in
        flight, that job follows a task (not an upscale) and the backend has acknowledged it (queued or running),
        so the next request lines up behind it in the backend's FIFO."""
        if not self._prefetching(backend) or len(backend.run_tasks) != 1 or len(backend.runs) != 1:
            return False
        job = backend.runs[0]
        if job.request.upscale:
            return False
        if job.id in backend.sent:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.webui.lost_task_timeout
        while job in backend.runs and loop.time() < deadline and backend.up:
            task_id = self._task_ids.get(job.id)
            if task_id is not None:
                try:
                    p = await backend.client.progress(task_id)
                except WebuiError:
                    return False
                if p is None:
                    return False
                if p.known:
                    backend.sent.add(job.id)
                    return job in backend.runs
            await asyncio.sleep(PREFETCH_POLL)
        return False

    async def _run_guarded(self, backend: Backend, job: Job) -> None:
        """``_run`` with the worker's safety net: a store failure puts the job back and backs off; a bug fails the
        job with an error id and never ends the worker."""
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
                backend.store_delay,
            )
            await asyncio.sleep(backend.store_delay)
            backend.store_delay = min(backend.store_delay * 2, 30.0)
            return
        except Exception:  # a bug must not kill the worker
            error_id = new_error_id()
            log.exception("job %s: unexpected error on %s [error %s]", job.id, backend.name, error_id)
            self._take(job)
            self._running.pop(job.id, None)
            self._release(backend, job)
            await self._fail(job, _("Easel hit an internal error."), error_id=error_id)
        backend.store_delay = 0.25

    async def _probe(self, backend: Backend) -> bool:
        ok = await self._refresh_catalog(backend)
        if ok:
            log.info("backend %s: up (%s)", backend.name, backend.flavor)
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
        if not backend.up or backend.description is None:  # (asked again while it could not say)
            try:
                backend.description = await backend.client.detect()
            except WebuiError as exc:
                log.info("backend %s: can't tell what it is (%s); keeping %s", backend.name, exc, backend.flavor)
        if not backend.up:
            backend.up = True
            self._changed.set()
        backend.last_error = None
        if backend.current is None:
            backend.loaded_model = cat.loaded_model
        return True

    def _claim(self, backend: Backend, job: Job) -> None:
        """Take ``job`` out of the line for ``backend`` (synchronously: no other worker can pick it after this)."""
        self._take(job)
        self._running[job.id] = job
        self._tick += 1
        self._guild_served[job.fairness_guild] = self._tick
        self._user_served[job.user_id] = self._tick
        self._order_cache = None
        backend.runs.append(job)

    async def _run(self, backend: Backend, job: Job) -> None:
        """Run a job ``_claim`` took: mark it running, send it, wait for the answer, hand the images on."""
        now = self._clock()
        try:
            await self.store.update(
                job, state=JobState.RUNNING, backend=backend.name, started_at=now, attempts=job.attempts + 1
            )
        except BaseException:
            self._release(backend, job)
            self._running.pop(job.id, None)
            self._put(job)
            self._notify()
            raise
        self._notify()
        request = job.request
        if request.img2img or request.upscale or request.describe:
            request = await self._with_init_image(backend, job)
            if request is None:
                return
        if request.outpaint:
            request = await self._outpaint_inputs(backend, job, request)
            if request is None:
                return
        upscale = request.upscale
        wanted = job.request.model and (self.catalog.resolve_model(job.request.model) or job.request.model)
        model = None if upscale or request.describe else (wanted or backend.expected_model)
        title = self.catalog.model_title(backend.name, model) if model else None
        if model and model != backend.expected_model:
            backend.swaps += 1
        if model:
            backend.sent_models[job.id] = model
        log.info(
            "job %s: started on %s (attempt %d, model %s)",
            job.id,
            backend.name,
            job.attempts,
            model or "loaded",
        )
        # Not awaited: the generation starts now, whatever Discord's round trip costs (the publisher keeps a
        # job's edits in order). A job sent ahead is announced when the one before it ends (``_release``).
        if backend.current is job:
            self._background(self._safe(self.publisher.started(job, backend.name), job))
        task_id = f"easel-{job.id}-{job.attempts}"
        self._task_ids[job.id] = task_id
        progress_task = asyncio.create_task(self._watch_progress(backend, job, task_id))
        started = time.monotonic()
        backend.active_since[job.id] = started
        if upscale:
            generation = asyncio.create_task(self._upscale(backend, request))
            watchdog = None  # the extras route has no task id to follow
        elif request.describe:
            generation = asyncio.create_task(self._describe(backend, request))
            watchdog = None  # nor the interrogate route
        else:
            request = self.catalog.fit(backend.name, request)  # how this backend fixes faces
            generation = asyncio.create_task(
                backend.client.generate(
                    request,
                    task_id=task_id,
                    model_title=title or model,
                    remote_id=job.remote_id,  # the Horde's request from before a restart: resumed
                    on_remote_id=lambda rid: self._store_remote_id(job, rid),
                )
            )
            # Without per-task progress a queued task cannot be told from a lost one: wait for the answer.
            watchdog = asyncio.create_task(self._watchdog(backend, job, task_id)) if backend.follows_tasks else None
        stall: Stall | None = None
        try:
            if watchdog is not None:
                await asyncio.wait({generation, watchdog}, return_when=asyncio.FIRST_COMPLETED)
                if not generation.done():
                    stall = watchdog.result()  # None: the backend cannot follow the task, wait for the answer
                    if stall is not None:
                        generation.cancel()  # drops the connection
                        with contextlib.suppress(asyncio.CancelledError, WebuiError):
                            await generation
            if stall is None:
                result = await generation
        except WebuiError as exc:
            await self._on_error(backend, job, exc, task_id=task_id)
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
            generation.cancel()
            if watchdog is not None:
                watchdog.cancel()
            self._task_ids.pop(job.id, None)
            self.horde_progress.pop(job.id, None)
            began = backend.active_since.get(job.id, started)  # a job sent ahead: from when it began to run
            self._release(backend, job)
            self._running.pop(job.id, None)
            self._notify()
        if stall is not None:
            await self._on_stall(backend, job, stall, task_id)
            return
        seconds = time.monotonic() - began
        if model and not backend.is_horde:
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

    async def _with_init_image(self, backend: Backend, job: Job) -> DrawRequest | None:
        """The job's request with its init image loaded from the store; None (the job is failed or put back in
        line) when the image is gone or the store cannot be read."""
        try:
            data = await self._store_retry(
                f"loading job {job.id}'s init image", lambda: self.store.load_init_image(job.id)
            )
        except StoreError:
            data = None
            message = _("Easel could not read the starting image from its database.")
        else:
            message = _("The starting image of this job is no longer stored.")
        if data is None:
            self._running.pop(job.id, None)
            self._release(backend, job)
            await self._fail(job, message, error_id=new_error_id())
            self._notify()
            return None
        return replace(job.request, init_image=data)

    async def _outpaint_inputs(self, backend: Backend, job: Job, request: DrawRequest) -> DrawRequest | None:
        """A zoom-out or pan job's padded canvas and mask (Pillow, off the loop); None (the job is failed) when the
        stored picture can't be read."""
        try:
            return await outpaint_inputs(request)
        except RequestError as exc:
            self._running.pop(job.id, None)
            self._release(backend, job)
            await self._fail(job, str(exc), error_id=None)
            self._notify()
            return None

    async def _upscale(self, backend: Backend, r: DrawRequest) -> GenerationResult:
        started = time.monotonic()
        data = await backend.client.upscale(
            r.init_image or b"", upscaler=r.upscaler, scale=r.upscale_factor, extra=face_payload(r.face_restore)
        )
        info = png_parameters(data) or ""
        if not info:  # an upscaler that dropped the original's infotext: carry it over
            info = png_parameters(r.init_image or b"") or ""
            data = await with_parameters(data, info)
        return GenerationResult(
            images=(data,),
            infotexts=(info,),
            seeds=(r.seed,),
            subseeds=(),
            info={},
            parameters={},
            elapsed=time.monotonic() - started,
        )

    async def _describe(self, backend: Backend, r: DrawRequest) -> GenerationResult:
        """A describe job: its result is text, stored as image rows without pixels (``StoredImage.data`` empty): the
        interrogator's answer, then the picture's own infotext when it has one."""
        started = time.monotonic()
        text = await backend.client.interrogate(r.init_image or b"", model=r.describe)
        texts = (text, png_parameters(r.init_image or b"") or "")
        return GenerationResult(
            images=(b"",) * (2 if texts[1] else 1),
            infotexts=texts if texts[1] else texts[:1],
            seeds=(),
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
        except Exception:
            error_id = new_error_id()
            log.exception("job %s: storing the result failed [error %s]", job.id, error_id)
            with contextlib.suppress(Exception):
                await self._fail(
                    job,
                    _(STORE_FAILED),
                    error_id=error_id,
                )

    async def _store_and_deliver(self, job: Job, result: GenerationResult, seconds: float) -> None:
        if not result.images:
            await self._fail(job, _("The webui returned no image (it was interrupted)."), error_id=None)
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

    async def _stop_running(self, backend: Backend, job: Job) -> bool:
        """Stop a job in flight on ``backend`` (a user cancelled it). True when it was interrupted now. A job
        waiting in the backend's line (prefetched) cannot be taken out of it: it is interrupted the moment it
        becomes active (a background watcher), never left to run."""
        if await self._interrupt_if_ours(backend, self._task_ids.get(job.id)):
            return True
        if backend.follows_tasks and job in backend.runs:
            self._background(self._interrupt_when_active(backend, job))
        return False

    async def _interrupt_when_active(self, backend: Backend, job: Job) -> None:
        """Poll the task of a cancelled job until the backend starts it, then interrupt it; ends when the job's
        request has come back (it is no longer in flight); how often: see ``CANCEL_BEHIND_POLL``."""
        first_since: float | None = None
        loop = asyncio.get_running_loop()
        while job in backend.runs and job.id in self._cancel_requested:
            if backend.runs[0] is job and first_since is None:
                first_since = loop.time()
            if first_since is None:  # behind Easel's own job: it starts when that one ends at the webui
                interval = CANCEL_BEHIND_POLL
            elif loop.time() - first_since < CANCEL_FAST_WINDOW:
                interval = PREFETCH_POLL
            else:  # still not started: behind someone else's work on a shared webui
                interval = CANCEL_SLOW_POLL
            task_id = self._task_ids.get(job.id)
            if task_id is not None:
                try:
                    p = await backend.client.progress(task_id)
                except WebuiError as exc:
                    log.debug("job %s: cancel watch poll failed: %s", job.id, exc)
                    p = None
                if p is not None and p.active:
                    if await backend.client.cancel(task_id):
                        log.info("job %s: cancelled while waiting on %s; stopped as it started", job.id, backend.name)
                        return
                elif p is not None and p.completed:
                    return
            await asyncio.sleep(interval)

    async def _interrupt_if_ours(self, backend: Backend, task_id: str | None) -> bool:
        """Stop ``task_id`` on ``backend`` if it is running there (the client knows whether it is ours); False when
        nothing was stopped (not sent yet, still waiting in the backend's line, or no way to tell)."""
        if task_id is None:
            return False
        return await backend.client.cancel(task_id)

    async def _watchdog(self, backend: Backend, job: Job, task_id: str) -> Stall | None:
        """Follow the webui's per-task progress while the generation request is open. Returns a ``Stall`` when
        the webui does not know the task ``lost_task_timeout`` s after it was sent (not queued, running or
        finished: the request hangs outside its queue), or the task is running and its progress has not moved
        for ``stall_timeout`` s. Waiting in the webui's own queue (behind another client's work) is not a stall.
        Returns None at once when the backend cannot follow one task."""
        wc = self.cfg.webui
        interval = max(0.02, min(5.0, wc.stall_timeout / 4, wc.lost_task_timeout / 4))
        loop = asyncio.get_running_loop()
        unknown_since: float | None = loop.time()
        moved_at = loop.time()
        last: tuple[float | None, int] | None = None
        while True:
            await asyncio.sleep(interval)
            try:
                tp = await backend.client.progress(task_id)
            except WebuiError as exc:
                log.debug("job %s: watchdog poll failed: %s", job.id, exc)
                continue
            if tp is None:
                return None
            now = loop.time()
            if tp.active:
                unknown_since = None
                mark = (tp.fraction, tp.preview_id)
                if mark != last:
                    last, moved_at = mark, now
                elif now - moved_at >= wc.stall_timeout:
                    return Stall(f"no progress for {wc.stall_timeout:g} s", active=True)
            elif tp.queued or tp.completed:
                unknown_since, last, moved_at = None, None, now
            else:
                if unknown_since is None:
                    unknown_since = now
                if now - unknown_since >= wc.lost_task_timeout:
                    return Stall(f"the webui did not know the task after {wc.lost_task_timeout:g} s", active=False)

    async def _on_stall(self, backend: Backend, job: Job, stall: Stall, task_id: str) -> None:
        """The watchdog gave up on a generation: stop it if it is ours and running, mark the backend suspect (it
        is probed before it gets another job), and retry the job on another backend or tell the user."""
        error_id = new_error_id()
        backend.stalls += 1
        log.warning("backend %s: job %s abandoned: %s [error %s]", backend.name, job.id, stall.reason, error_id)
        if stall.active:
            await self._interrupt_if_ours(backend, task_id)
        backend.up = False
        backend.last_error = f"stalled: {stall.reason}"
        if job.id in self._cancel_requested:
            self._cancel_requested.discard(job.id)
            with contextlib.suppress(StoreError):
                await self._store_retry(
                    f"cancelling job {job.id}",
                    lambda: self.store.update(job, state=JobState.CANCELLED, finished_at=self._clock()),
                )
            await self._safe(self.publisher.cancelled(job), job)
            return
        job.avoid_backends.add(backend.name)
        elsewhere = [b for b in self.backends.values() if b.up and self._eligible(job, b)]
        if elsewhere and job.attempts < self.cfg.webui.max_attempts:
            log.info("job %s: retried on another backend after the stall on %s", job.id, backend.name)
            with contextlib.suppress(StoreError):
                await self._store_retry(
                    f"queueing job {job.id} again", lambda: self.store.update(job, state=JobState.QUEUED, backend=None)
                )
            self._put(job)
            self._notify()
            return
        await self._fail(
            job, _("The image server stopped responding while drawing this; try again later."), error_id=error_id
        )

    async def _on_error(self, backend: Backend, job: Job, exc: WebuiError, *, task_id: str | None = None) -> None:
        error_id = new_error_id()
        if isinstance(exc, HordeRefusal) and await self._horde_fallback(backend, job, exc):
            return
        if exc.retryable:
            if isinstance(exc, WebuiUnavailable | WebuiTimeout):
                backend.up = False
                backend.last_error = str(exc)
                log.warning("backend %s: down (%s) [error %s]", backend.name, exc, error_id)
                if isinstance(exc, WebuiTimeout):
                    await self._interrupt_if_ours(backend, task_id)
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
        if isinstance(exc, WrongModel):
            # Its list of models is out of date: learn what it has now, so the next job is not sent there.
            self._background(self._refresh_quietly(backend))
        await self._fail(job, _user_message(exc), error_id=error_id)

    async def _refresh_quietly(self, backend: Backend) -> None:
        if backend.up:
            await self._refresh_catalog(backend)

    async def _fail(self, job: Job, message: str, *, error_id: str | None) -> None:
        self._cancel_requested.discard(job.id)
        try:
            await self._store_retry(
                f"failing job {job.id}",
                lambda: self.store.update(
                    job, state=JobState.FAILED, error=message, error_id=error_id, finished_at=self._clock()
                ),
            )
        except StoreError:
            pass  # logged; the user is told all the same
        text = (
            _("{message} (error id `{error_id}`)").format(message=message, error_id=error_id) if error_id else message
        )
        await self._safe(self.publisher.failed(job, text), job)

    async def _watch_progress(self, backend: Backend, job: Job, task_id: str) -> None:
        interval = self.cfg.queue.status_interval
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                if isinstance(backend.client, HordeClient):  # its own line: position and wait time as the ETA
                    await self._horde_progress(backend.client, job, task_id)
                    continue
                tp = await backend.client.progress(task_id)
            except WebuiError as exc:
                log.debug("job %s: progress poll failed: %s", job.id, exc)
                continue
            if tp is None:
                return  # this backend cannot say how one task is doing
            if tp.active:
                await self._safe(self.publisher.progress(job, tp.fraction or 0.0, tp.eta, tp.preview), job)


def _user_message(exc: WebuiError) -> str:
    if isinstance(exc, WrongModel):
        return _(
            "The image server drew with another model than {model} (it does not have it any more); "
            "the picture was not posted. Try again, or pick another model."
        ).format(model=exc.asked.split(" [")[0])
    if isinstance(exc, WebuiUnavailable):
        return _("The image server is down or unreachable, and retries ran out.")
    if isinstance(exc, WebuiTimeout):
        return _("The image server took too long to answer, and retries ran out.")
    if isinstance(exc, WebuiAuthError):
        return _("The image server refused Easel's credentials; tell the bot admin.")
    if isinstance(exc, WebuiServerError):
        # The webui's own exception text (paths, addresses, tracebacks) goes to the log, not to the channel.
        if "out of memory" in (exc.message or "").lower():
            return _("The image server ran out of GPU memory; try a smaller size or fewer images.")
        return _("The image server failed while drawing.")
    # A 4xx says what was wrong with the request (an unknown sampler, a bad value): one short line of it.
    reason = " ".join((exc.message or _("bad request")).split())
    return _("The image server refused the request: {reason}").format(reason=reason[:200])
