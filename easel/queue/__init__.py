"""The durable, fair job queue and one worker per webui backend.

- Every job is a row in the store before the user hears "queued"; the in-memory list mirrors the rows.
- Fair: the next job comes from the guild served least recently, then the user served least recently,
  then the oldest job. One user with ten jobs does not hold back the next user's one.
- Model affinity: a backend prefers a job for the checkpoint it has loaded, so checkpoints are swapped
  rarely; a job is passed over at most ``queue.affinity_max_skips`` times.
- The worker loop is in ``easel.queue.worker``; the pure ordering, picking and estimating in
  ``easel.queue.scheduling``; this module is the facade the bot and cogs use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from easel.backends.base import JobProgress
from easel.catalog import Catalog
from easel.config import Config, HordeMode
from easel.errors import QueueFull
from easel.i18n import _, format_number
from easel.jobs import Job, JobState, StoredImage, new_error_id
from easel.metrics import METRICS
from easel.queue import scheduling
from easel.queue.backend import Backend
from easel.queue.horde import HordePolicy
from easel.queue.publisher import CancelResult, Publisher
from easel.queue.worker import BackendWorkers
from easel.store import Store, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
# Waits between retries of a store write that failed (locked by another connection, disk full): about 90 s in all.
STORE_RETRY_DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0)


class TransientDeliveryError(Exception):
    """Raised by ``Publisher.deliver`` for a failure worth retrying for a long while (Discord down or overloaded,
    the network, a timeout): the queue keeps the job "generated" and retries with capped backoff."""


class JobQueue(BackendWorkers):
    # Served-order memory kept for users and guilds with nothing in line: the most recently served this many.
    # One served longer ago than that is treated as never served (it would come first anyway).
    fairness_memory = 10_000
    prune_every = 500  # submits between two prunings of the per-user memories
    # Delivery retries: transient failures back off 2, 4, 8, ... 60 s for up to 30 minutes; other failures
    # (a refusal with no fallback left, a bug) fail the job after this many attempts.
    delivery_retry_first = 2.0
    delivery_retry_cap = 60.0
    delivery_retry_window = 30 * 60.0
    delivery_permanent_tries = 3

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
        self._last_submit: dict[int, float] = {}  # pruned: entries older than the longest cooldown asked
        self._longest_cooldown = 0.0
        self._submits_since_prune = 0
        self._sent_position: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._deliveries: set[asyncio.Task[None]] = set()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.generated_count = 0
        self.restarts = 0  # supervised tasks restarted after dying
        # the AI Horde (easel.queue.horde): each job's mode, the local-only start estimates, its progress there
        self.horde_policy: HordePolicy | None = None
        self._horde_modes: dict[str, HordeMode] = {}
        self._local_starts: dict[str, float] | None = None
        self.horde_progress: dict[str, JobProgress] = {}

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load unfinished jobs from the store and start one worker per backend."""
        for job in await self.store.active_jobs():
            if job.state == JobState.RUNNING and job.attempts >= self.cfg.webui.max_attempts:
                await self._fail(job, _("The job was interrupted too many times."), error_id=new_error_id())
                continue
            if job.state == JobState.RUNNING:
                log.info("job %s: was running at shutdown, queued again", job.id)
                await self.store.update(job, state=JobState.QUEUED, backend=None)
            if job.state == JobState.QUEUED:
                await self._resolve_horde_mode(job)
                self._put(job)
            elif job.state == JobState.GENERATED:
                log.info("job %s: generated before shutdown, delivering now", job.id)
                self._spawn_delivery(job, recovered=True)
        for backend in self.backends.values():
            for slot in range(backend.slots):  # the Horde: max_in_flight loops, one request each
                name = f"easel-worker-{backend.name}" + (f"-{slot}" if slot else "")
                self._supervise(name, lambda b=backend: self._worker(b))  # type: ignore[misc]
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
        self._sent_position.pop(job.id, None)
        _decrement(self._queued_by_user, job.user_id)
        _decrement(self._queued_by_guild, job.fairness_guild)
        self._invalidate()

    def _is_queued(self, job: Job) -> bool:
        return job.id in self._queued

    def _invalidate(self) -> None:
        self._order_cache = None
        self._positions = None
        self._local_starts = None

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
            raise QueueFull(
                _("The line is full ({max_queue_length} jobs); try again in a few minutes.").format(
                    max_queue_length=lim.max_queue_length
                )
            )
        guild = guild_id or 0
        if guild and self._queued_by_guild[guild] + self._reserved_by_guild[guild] >= lim.max_queued_per_guild:
            raise QueueFull(
                _("This server's line is full ({max_queued_per_guild} jobs); try again in a few minutes.").format(
                    max_queued_per_guild=lim.max_queued_per_guild
                )
            )
        waiting = self._queued_by_user[user_id] + self._reserved_by_user[user_id]
        waiting += sum(1 for j in self._running.values() if j.user_id == user_id)
        if waiting >= max_queued:
            raise QueueFull(
                _(
                    "You already have {waiting} job(s) in line (limit {max_queued}); "
                    "wait for one to finish or /cancel one."
                ).format(waiting=waiting, max_queued=max_queued)
            )
        self._longest_cooldown = max(self._longest_cooldown, cooldown or 0.0)
        last = self._last_submit.get(user_id)
        if cooldown and last is not None:
            left = last + cooldown - self._clock()
            if left > 0:
                raise QueueFull(
                    _("Slow down: you can draw again in {seconds} s.").format(seconds=format_number(left, 0))
                )

    async def submit(self, job: Job, **limits: float | int | None) -> int:
        """Store the job and put it in line; returns its 1-based position. Raises QueueFull."""
        if self._stopping:
            raise QueueFull(_("Easel is shutting down; try again in a minute."))
        # Check and reserve in one step, before any await: concurrent submits cannot all pass the same check.
        self.check_user(job.user_id, guild_id=job.guild_id, **limits)  # type: ignore[arg-type]
        previous_submit = self._last_submit.get(job.user_id)
        self._last_submit[job.user_id] = self._clock()
        self._submits_since_prune += 1
        if self._submits_since_prune >= self.prune_every:
            self._prune_memories()
        self._reserve(job, 1)
        try:
            await self.store.add_job(job)
        except StoreError as exc:
            log.error("job %s: could not be stored: %s", job.id, exc)
            if previous_submit is None:  # not queued: no cooldown for it
                self._last_submit.pop(job.user_id, None)
            else:
                self._last_submit[job.user_id] = previous_submit
            raise QueueFull(
                _("Easel cannot save new jobs right now (its database is busy or full); try again in a minute.")
            ) from exc
        finally:
            self._reserve(job, -1)
        if job.request.init_image is not None:
            # The image is in the store; the job in line carries none (loaded again when it starts).
            job.request = replace(job.request, init_image=None)
        await self._resolve_horde_mode(job)
        self._put(job)
        log.info("job %s: queued by user %s in guild %s (%s)", job.id, job.user_id, job.guild_id, job.request.kind)
        self._notify()
        position = self.position(job.id) or len(self._queued)
        self._sent_position[job.id] = position
        return position

    def _prune_memories(self) -> None:
        """Bound the per-user / per-guild dicts: cooldown stamps past every cooldown, and the served order of
        users and guilds with nothing in line beyond the ``fairness_memory`` most recently served."""
        self._submits_since_prune = 0
        horizon = self._clock() - self._longest_cooldown
        self._last_submit = {u: t for u, t in self._last_submit.items() if t > horizon}
        active = [*self._queued.values(), *self._running.values()]
        for served, keys in (
            (self._user_served, {j.user_id for j in active}),
            (self._guild_served, {j.fairness_guild for j in active}),
        ):
            if len(served) <= self.fairness_memory + len(keys):
                continue
            idle = sorted((t, k) for k, t in served.items() if k not in keys)
            for _served_at, key in idle[: len(idle) - self.fairness_memory]:
                del served[key]
        self._invalidate()

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
            remaining += sum(b.estimate(j) for j in b.runs[1:])  # sent ahead, waiting behind it
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
            return CancelResult(False, _("No waiting or running job `{job_id}`.").format(job_id=job_id))
        if job.user_id != user_id and not moderator:
            return CancelResult(False, _("You can only cancel your own jobs."))
        if self._is_queued(job):
            self._take(job)
            try:
                await self.store.update(job, state=JobState.CANCELLED, finished_at=self._clock())
            except StoreError as exc:
                log.error("job %s: cancelling failed: %s", job.id, exc)
                self._put(job)
                return CancelResult(
                    False, _("Easel cannot save that right now (its database is busy or full); try again soon.")
                )
            log.info("job %s: cancelled while queued by user %s", job.id, user_id)
            self._notify()
            await self._safe(self.publisher.cancelled(job), job)
            return CancelResult(True, _("Cancelled job `{job}`.").format(job=job.id))
        self._cancel_requested.add(job.id)
        backend = self.backends.get(job.backend or "")
        if backend is not None and not await self._stop_running(backend, job):
            # Waiting inside the webui, or a shared webui that cannot say whose picture is running: no interrupt
            # (it could stop someone else's); the result is dropped when it returns.
            log.info("job %s: not interrupted on %s; its result will be dropped", job.id, backend.name)
            return CancelResult(True, _("Cancelled job `{job}`; its picture will not be posted.").format(job=job.id))
        log.info("job %s: cancel requested while running on %s by user %s", job.id, job.backend, user_id)
        return CancelResult(True, _("Stopping job `{job}` on {backend}.").format(job=job.id, backend=job.backend))

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

    # ---- workers (the loop is in easel.queue.worker) -----------------------------------------

    def pick(self, backend: Backend, *, prefetch: bool = False) -> Job | None:
        """Choose the next job for ``backend``: fair order, preferring its loaded model, bounded skips.
        ``prefetch``: to send while another job runs there (an upscale is never sent ahead: its route has no task
        to follow, so it could not be stopped while it waits)."""
        order = [j for j in self.fair_order() if self._eligible(j, backend) and not (prefetch and j.request.upscale)]
        job, skipped = scheduling.pick_with_affinity(
            order,
            matches_loaded=lambda j: self._matches_loaded(j, backend),
            max_skips=self.cfg.queue.affinity_max_skips,
        )
        for passed in skipped:
            passed.passed_over += 1
        return job

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
        """Post a stored result. Transient failures (``TransientDeliveryError``: Discord down, the network, the
        store busy) are retried with capped backoff for ``delivery_retry_window`` seconds; the job stays
        "generated" meanwhile, so a restart delivers it too. Anything else fails the job after
        ``delivery_permanent_tries`` attempts, with an error id. Parts already posted are not posted again."""
        if images is None:
            try:
                images = await self._store_retry(
                    f"loading job {job.id}'s result", lambda: self.store.load_result(job.id)
                )
            except StoreError:
                return  # still "generated" in the store: delivered at the next start
        delay = self.delivery_retry_first
        posting_started = time.monotonic()
        permanent = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                message_id = await self.publisher.deliver(job, images, recovered=recovered)
            except asyncio.CancelledError:
                raise
            except TransientDeliveryError as exc:
                out_of_time = time.monotonic() - posting_started + delay > self.delivery_retry_window
                if out_of_time:
                    error_id = new_error_id()
                    log.error(
                        "job %s: delivery failed for %.0f s, giving up [error %s]: %s",
                        job.id,
                        time.monotonic() - posting_started,
                        error_id,
                        exc,
                    )
                    await self._fail(job, _("Posting the result failed (Discord is not answering)."), error_id=error_id)
                    return
                log.warning("job %s: delivery attempt %d failed (%s); retrying in %.0f s", job.id, attempt, exc, delay)
            except Exception:
                permanent += 1
                error_id = new_error_id()
                log.exception("job %s: delivery attempt %d failed [error %s]", job.id, attempt, error_id)
                if permanent >= self.delivery_permanent_tries:
                    await self._fail(job, _("Posting the result failed."), error_id=error_id)
                    return
            else:
                break
            # A retry after a failure mid-way (or a crash) posts only the parts not recorded yet.
            recovered = True
            if not await self._delivery_pause(delay):
                log.info("job %s: shutting down; the result is posted at the next start", job.id)
                return
            delay = min(delay * 2, self.delivery_retry_cap)
        keep = self.cfg.storage.keep_results_days > 0
        with contextlib.suppress(StoreError):  # left "generated": the next start finds the post (idempotent)
            await self._store_retry(
                f"marking job {job.id} delivered",
                lambda m=message_id, k=keep: self.store.mark_delivered(job, m, keep_images=k),  # type: ignore[misc]
            )
        METRICS.observe_delivery(time.monotonic() - posting_started)
        log.info("job %s: delivered (message %s)", job.id, message_id)
        self._notify()

    async def _delivery_pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds between delivery attempts; False (at once) when the queue is stopping."""
        deadline = time.monotonic() + delay
        while not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, 0.5))  # stop() sets no event for this: look at _stopping twice a second
        return False

    async def wait_idle(self) -> None:
        """Until nothing is queued, running or being delivered (tests and benches)."""
        while self._queued or self._running or self._deliveries:
            if self._deliveries and not (self._queued or self._running):
                await asyncio.gather(*list(self._deliveries), return_exceptions=True)
                continue
            await self._wait_changed()

    # ---- progress and position updates ------------------------------------------------------

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


__all__ = ["Backend", "CancelResult", "JobQueue", "Publisher", "QueueFull", "TransientDeliveryError"]
