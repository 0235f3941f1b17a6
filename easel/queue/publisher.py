"""What the queue tells the outside world (Discord), and the answer to a cancel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from easel.jobs import Job, StoredImage


class Publisher(Protocol):
    """What the queue tells the outside world (Discord). Implementations must not raise for Discord errors
    they can handle; ``deliver`` must be idempotent for a job (same nonce, same message; a part already recorded
    in the store is never posted again) and raises ``TransientDeliveryError`` for a failure worth retrying later
    (5xx, 429, a dropped connection), which the queue retries with backoff while the job stays "generated"."""

    async def queued(self, job: Job, position: int, eta: float | None) -> None: ...
    async def started(self, job: Job, backend: str) -> None: ...
    async def progress(
        self, job: Job, fraction: float, eta: float | None, preview: bytes | None, *, waiting: int | None = None
    ) -> None:
        """How a running job is doing. ``waiting``: it is still in the backend's own line (the AI Horde's), with
        that many requests ahead of it; ``eta`` is then the backend's estimate of the wait."""
        ...

    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        """Post the result. ``recovered``: the bot restarted after the images were stored, so the result may
        already be posted; find it instead of posting twice."""
        ...

    async def failed(self, job: Job, message: str) -> None: ...
    async def cancelled(self, job: Job) -> None: ...


@dataclass(frozen=True)
class CancelResult:
    ok: bool
    message: str
