"""One backend as the worker loops see it: its config, its client (``BackendClient``), whether it is up, the jobs
in flight on it, what it can do, and what the scheduler learned of its speed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from easel.backends.base import BackendClient, BackendDescription, Capability
from easel.backends.horde.client import HordeClient, HordeState
from easel.config import BackendConfig
from easel.jobs import Job
from easel.options import Flavor
from easel.queue import scheduling

__all__ = ["UNDESCRIBED", "Backend", "can_describe", "can_restore_faces"]


# Assumed of a backend that answered but could not say what it is (detect failed): a plain A1111 webui.
UNDESCRIBED = frozenset(Capability) - {Capability.TASK_PROGRESS}


@dataclass
class Backend:
    cfg: BackendConfig
    client: BackendClient
    up: bool = False
    last_error: str | None = None
    loaded_model: str | None = None
    # Jobs sent and not answered yet, in the order sent: the first is running; with prefetch a second waits in
    # the backend's own line (its FIFO lock) to start the instant the first ends.
    runs: list[Job] = field(default_factory=list)
    sent_models: dict[str, str] = field(default_factory=dict)  # job id -> the model it was sent with (runs only)
    sent: set[str] = field(default_factory=set)  # ids of runs the backend has acknowledged (queued or running)
    run_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    store_delay: float = 0.25  # backoff after the store failed to start a job
    active_since: dict[str, float] = field(default_factory=dict)  # job id -> when it was sent / began to run
    seconds_per_unit: float | None = None  # measured: seconds per (steps × megapixels × images)
    swaps: int = 0
    stalls: int = 0  # generations abandoned by the watchdog (hung or stuck webui)
    description: BackendDescription | None = None  # what ``detect`` said when it came up
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def current(self) -> Job | None:
        """The job the backend is running (the first sent of those in flight)."""
        return self.runs[0] if self.runs else None

    @property
    def prefetched(self) -> Job | None:
        """The job sent ahead, waiting in the backend's line behind ``current``."""
        return self.runs[1] if len(self.runs) > 1 else None

    @property
    def expected_model(self) -> str | None:
        """The model the backend will have loaded once the jobs in flight are done."""
        return next(reversed(self.sent_models.values()), None) or self.loaded_model

    @property
    def flavor(self) -> Flavor | None:
        """Which webui it is (None: the Horde); A1111 until detected."""
        return self.description.flavor if self.description is not None else Flavor.A1111

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.description.capabilities if self.description is not None else UNDESCRIBED

    @property
    def follows_tasks(self) -> bool:
        """It can say how one task is doing (queued, running, unknown): the watchdog can run."""
        return Capability.TASK_PROGRESS in self.capabilities

    def estimate(self, job: Job) -> float:
        return scheduling.estimate_seconds(job.request, self.seconds_per_unit)

    @property
    def is_horde(self) -> bool:
        return self.cfg.is_horde

    @property
    def horde_state(self) -> HordeState | None:
        """The AI Horde's state for /status (None: not the Horde)."""
        return self.client.state() if isinstance(self.client, HordeClient) else None

    @property
    def slots(self) -> int:
        """Jobs this backend runs at once: a webui one, the Horde ``max_in_flight``."""
        return self.cfg.horde.max_in_flight if self.cfg.horde is not None else 1

    def learn(self, job: Job, seconds: float) -> None:
        self.seconds_per_unit = scheduling.learn_seconds_per_unit(self.seconds_per_unit, job.request, seconds)


def can_describe(backend: Backend) -> bool:
    """It has an interrogator: A1111 and Forge, SD.Next where ``detect`` found one of its caption routes."""
    return Capability.INTERROGATE in backend.capabilities


def can_restore_faces(backend: Backend) -> bool:
    """SD.Next's face restoration is not the Extras tab's GFPGAN / CodeFormer: face-restoring upscale jobs go to
    A1111 and Forge backends."""
    return backend.flavor is not Flavor.SDNEXT
