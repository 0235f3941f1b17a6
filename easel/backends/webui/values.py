"""What the webui's own routes answer (global and per-task progress, the detected flavour)."""

from __future__ import annotations

from dataclasses import dataclass

from easel.options import Flavor

__all__ = ["BackendInfo", "Progress", "TaskProgress"]


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
class BackendInfo:
    flavor: Flavor
    version: str | None
