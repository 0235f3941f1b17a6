"""The one protocol every kind of backend serves (an A1111-family webui, the AI Horde).

The queue and the worker talk to a ``BackendClient`` only; which kind ran a job is visible in the logs, the
result's infotext and ``/status``, nowhere else. A client never retries by itself: the worker decides whether
a failure is worth another attempt (``BackendError.retryable``) and where.

The protocol is what a job needs:
- ``detect``: what the backend is (kind, flavour, version) and what it can do (``Capability``);
- ``generate``: run one ``DrawRequest`` (txt2img, img2img, inpaint) to the end and return its images;
- ``upscale`` / ``interrogate``: the image tools;
- ``progress``: how one task is doing (queued, running, done, unknown);
- ``cancel``: stop one task, only if it is ours;
- ``close``: release what the client holds (the HTTP session is the caller's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from easel.backends.webui import GenerationResult
    from easel.options import Flavor
    from easel.request import DrawRequest


class BackendKind(StrEnum):
    """``[[backends]] kind``."""

    WEBUI = "webui"
    HORDE = "horde"


class Capability(StrEnum):
    """What a backend can do; the scheduler only gives a job to a backend that has every capability it needs."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    UPSCALE = "upscale"
    INTERROGATE = "interrogate"
    LORAS = "loras"
    MODELS = "models"  # can switch checkpoints per request
    FACE_FIX = "face_fix"
    TASK_PROGRESS = "task_progress"  # can follow one task (queued / running / done) and cancel only that one


@dataclass(frozen=True)
class BackendDescription:
    """The answer of ``detect``."""

    kind: BackendKind
    flavor: Flavor | None  # the webui implementation; None for the Horde
    version: str | None
    capabilities: frozenset[Capability]


@dataclass(frozen=True)
class JobProgress:
    """How one task is doing. ``known`` False: the backend has never heard of it (lost, or not sent yet)."""

    known: bool
    queued: bool = False
    active: bool = False
    completed: bool = False
    fraction: float | None = None  # 0..1 while active
    eta: float | None = None  # seconds until the result, as the backend estimates it
    queue_position: int | None = None  # place in the backend's own line (the Horde's), when it says
    preview: bytes | None = None  # a live preview image, when the backend sends one


# Called once a backend has accepted a request and named it (the Horde's request id): the worker stores the id
# with the job before anything else happens, so a restart resumes that request instead of sending a second one.
RemoteIdCallback = Callable[[str], Awaitable[None]]


@runtime_checkable
class BackendClient(Protocol):
    """One backend. Every failure is raised as a ``easel.backends.webui.WebuiError`` subclass (the errors are
    shared by every kind)."""

    @property
    def kind(self) -> BackendKind: ...

    async def detect(self) -> BackendDescription: ...

    async def generate(
        self,
        request: DrawRequest,
        *,
        task_id: str,
        model_title: str | None,
        remote_id: str | None = None,
        on_remote_id: RemoteIdCallback | None = None,
    ) -> GenerationResult:
        """Run ``request`` to the end. ``remote_id``: a request this backend accepted before a restart, to
        resume instead of sending a new one."""
        ...

    async def upscale(self, image: bytes, *, upscaler: str, scale: float) -> bytes: ...

    async def interrogate(self, image: bytes, *, model: str) -> str:
        """What the backend's interrogator sees in ``image`` (``model``: "clip" for a sentence, "deepdanbooru" for
        tags); ``WebuiNotFound`` where the backend has no interrogator."""
        ...

    async def progress(self, task_id: str) -> JobProgress | None:
        """None: this backend cannot follow one task (the worker then waits for ``generate``)."""
        ...

    async def cancel(self, task_id: str) -> bool:
        """Stop ``task_id`` if it is ours and running or queued; True when something was stopped."""
        ...

    async def close(self) -> None: ...
