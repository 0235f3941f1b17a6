"""Routing to the AI Horde: which jobs a ``kind = "horde"`` backend may take, and what happens when it refuses one.

The mode of a job is its server's ``/settings horde`` (else the global ``[horde] mode``), looked up once when the
job joins the line (and again after a restart):

- ``off``: never the Horde (the default; the Horde's volunteer workers see prompts and images);
- ``overflow``: the Horde takes a job when its estimated start on the local backends is later than
  ``[horde] overflow_after`` seconds, when every local backend is down, or when no local backend has its model;
  local backends stay preferred (they take any job they can, the Horde only the ones that would wait too long);
- ``only``: everything the Horde can draw goes there; the rest (upscales, styles, variations) stays local.

A job whose request lives on the Horde (``remote_id``, stored the moment the Horde accepted it) is resumed there,
never drawn a second time elsewhere. A Horde refusal of one request (kudos, no worker for the model, a censored
picture, something it can't do) puts the job back in line for the local backends when one can draw it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from easel.backends.base import JobProgress
from easel.backends.errors import WebuiError, WebuiServerError
from easel.backends.horde.client import HordeClient
from easel.config import Config, HordeMode
from easel.i18n import N_, _
from easel.jobs import Job, JobState
from easel.queue import scheduling
from easel.request import DrawRequest
from easel.store import StoreError

if TYPE_CHECKING:
    from easel.catalog import Catalog
    from easel.queue.backend import Backend
    from easel.queue.publisher import Publisher
    from easel.store import Store

log = logging.getLogger(__name__)

_HORDE_ONLY_MODEL = N_(
    "The model {model!r} is only on the AI Horde, which this server doesn't use (an admin can turn it on with "
    "/settings set horde)."
)
MODE_MEMORY = 5_000  # job modes kept before the finished jobs' are dropped
# The server's /settings horde for a guild (None: a DM); set by the bot. Without it the global mode applies.
HordePolicy = Callable[[int | None], Awaitable[HordeMode]]


def horde_can_draw(request: DrawRequest) -> bool:
    """What the Horde backend takes at all (the translation refuses the rest with a reason)."""
    return not (request.upscale or request.style or request.subseed_strength > 0)


class HordeScheduling:
    """Mixed into the worker loops (``BackendWorkers``); the attributes are ``JobQueue``'s."""

    cfg: Config
    store: Store
    catalog: Catalog
    publisher: Publisher
    backends: dict[str, Backend]
    _clock: Callable[[], float]
    _horde_modes: dict[str, HordeMode]
    _local_starts: dict[str, float] | None
    horde_policy: HordePolicy | None
    horde_progress: dict[str, JobProgress]

    # ---- the mode of a job ------------------------------------------------------------------

    @property
    def has_horde(self) -> bool:
        return any(b.is_horde for b in self.backends.values())

    async def _resolve_horde_mode(self, job: Job) -> None:
        if not self.has_horde:
            return
        mode = self.cfg.horde.mode
        if self.horde_policy is not None:
            try:
                mode = await self.horde_policy(job.guild_id)
            except Exception:  # the settings can't be read: the global mode, logged
                log.exception("job %s: the server's horde setting could not be read; using [horde] mode", job.id)
        self._horde_modes[job.id] = mode
        if len(self._horde_modes) > 2 * MODE_MEMORY:  # keep the modes of the jobs still in line or running
            live = {*self._queued, *self._running}  # type: ignore[attr-defined]
            self._horde_modes = {k: v for k, v in self._horde_modes.items() if k in live or k == job.id}

    def horde_mode(self, job: Job) -> HordeMode:
        return self._horde_modes.get(job.id, self.cfg.horde.mode)

    # ---- eligibility ------------------------------------------------------------------------

    def _has_model(self, job: Job, backend: Backend) -> bool:
        if backend.name in job.avoid_backends:
            return False
        model = job.request.model
        if model is None:
            return True
        return self.catalog.backend_has_model(backend.name, self.catalog.resolve_model(model) or model)

    def _horde_eligible(self, job: Job, backend: Backend) -> bool | None:
        """Whether ``backend`` may take ``job`` by the Horde's rules; None: the usual rules decide."""
        if not self.has_horde:
            return None
        mode = self.horde_mode(job)
        if backend.is_horde:
            if job.remote_id is not None:
                return True  # its request lives there: resume it
            if mode is HordeMode.OFF or not horde_can_draw(job.request) or not self._has_model(job, backend):
                return False
            return mode is HordeMode.ONLY or self._overflows(job)
        if job.remote_id is not None:
            return False  # resumed on the Horde, never drawn a second time here
        if mode is HordeMode.ONLY and horde_can_draw(job.request):
            return False
        return None

    def _overflows(self, job: Job) -> bool:
        """Overflow: every local backend that could draw ``job`` is down (or none has its model), or its
        estimated local start is more than ``overflow_after`` seconds away."""
        local = [b for b in self.backends.values() if not b.is_horde and b.up and self._has_model(job, b)]
        if not local:
            return True
        start = self.local_starts().get(job.id)
        return start is not None and start - self._clock() > self.cfg.horde.overflow_after

    def local_starts(self) -> dict[str, float]:
        """When each queued job would start if only the local backends drew (cached until the line changes)."""
        if self._local_starts is None:
            up = [b for b in self.backends.values() if not b.is_horde and b.up]
            now = self._clock()
            free_at = []
            for b in up:
                remaining = 0.0
                cur = b.current
                if cur is not None and cur.started_at is not None:
                    remaining = max(0.0, cur.started_at + b.estimate(cur) - now)
                free_at.append(now + remaining)
            order = [j for j in self.fair_order() if self.horde_mode(j) is not HordeMode.ONLY]  # type: ignore[attr-defined]
            self._local_starts = scheduling.estimate_starts(order, free_at, [b.estimate for b in up])
        return self._local_starts

    async def _horde_orphans(self) -> None:
        """Fail queued jobs whose model only the Horde has while their server doesn't use it (mode off): nothing
        would ever draw them."""
        if not self.has_horde or any(self.catalog.get(b) is None for b in self.backends):
            return
        for job in list(self._queued.values()):  # type: ignore[attr-defined]
            model = job.request.model
            if model is None or job.remote_id is not None or self.horde_mode(job) is not HordeMode.OFF:
                continue
            if any(not b.is_horde and self._has_model(job, b) for b in self.backends.values()):
                continue
            if any(b.is_horde and self._has_model(job, b) for b in self.backends.values()):
                self._take(job)  # type: ignore[attr-defined]
                message = _(_HORDE_ONLY_MODEL).format(model=model)
                await self._fail(job, message, error_id=None)  # type: ignore[attr-defined]

    # ---- while a Horde job runs ---------------------------------------------------------------

    async def _store_remote_id(self, job: Job, remote_id: str) -> None:
        """Stored before the worker goes on: a restart resumes this request instead of sending a second one."""
        try:
            await self.store.update(job, remote_id=remote_id)
        except StoreError as exc:
            # The client cancels the request it just made: an id that isn't stored could be sent twice.
            raise WebuiServerError(f"could not store the Horde request id: {exc}", backend="horde") from exc

    async def _horde_progress(self, client: HordeClient, job: Job, task_id: str) -> None:
        p = await client.progress(task_id)
        if p is None or not p.known:
            return
        if self.horde_progress.get(job.id) != p:
            self.horde_progress[job.id] = p
            self._changed.set()  # type: ignore[attr-defined]  # /queue and wait_changed() see the new place
        if p.completed:
            return
        waiting = (p.queue_position or 0) if p.queued else None  # still in the Horde's line: say so, not "0 %"
        publish = self.publisher.progress(job, p.fraction or 0.0, p.eta, None, waiting=waiting)  # type: ignore[attr-defined]
        await self._safe(publish, job)  # type: ignore[attr-defined]

    async def _horde_fallback(self, backend: Backend, job: Job, exc: WebuiError) -> bool:
        """A Horde refusal: back in line for a local backend that can draw the job (True), else False (the job
        fails with the Horde's reason)."""
        if not backend.is_horde or self.horde_mode(job) is HordeMode.ONLY:
            return False
        if not any(not b.is_horde and self._has_model(job, b) for b in self.backends.values()):
            return False
        log.info("job %s: the Horde refused it (%s); back in line for the local backends", job.id, exc.message)
        job.avoid_backends.add(backend.name)
        try:
            await self.store.update(job, state=JobState.QUEUED, backend=None, remote_id=None)
        except StoreError:
            return False
        self._put(job)  # type: ignore[attr-defined]
        self._notify()  # type: ignore[attr-defined]
        return True
