"""The one protocol every kind of backend serves (an A1111-family webui, the AI Horde), and the values it returns.

The queue and the worker talk to a ``BackendClient`` only; which kind ran a job is visible in the logs, the
result's infotext and ``/status``, nowhere else. A client never retries by itself: the worker decides whether
a failure is worth another attempt (``BackendError.retryable``, ``easel.backends.errors``) and where.

The protocol is what a job needs:
- ``detect``: what the backend is (kind, flavour, version) and what it can do (``Capability``);
- ``generate``: run one ``DrawRequest`` (txt2img, img2img, inpaint) to the end and return its images;
- ``upscale`` (and, where a backend has it, ``interrogate``): the image tools;
- ``progress``: how one task is doing (queued, running, done, unknown);
- ``cancel``: stop one task, only if it is ours;
- ``close``: release what the client holds (the HTTP session is the caller's);
- the lists the catalog caches (``CatalogSource``: models, samplers, schedulers, styles, upscalers, the loaded
  model).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from easel.config import BackendKind

if TYPE_CHECKING:
    from easel.loras import LoraInfo
    from easel.options import Flavor
    from easel.request import DrawRequest

__all__ = [
    "BackendClient",
    "BackendDescription",
    "BackendKind",
    "Capability",
    "CatalogExtras",
    "CatalogSource",
    "GenerationResult",
    "JobProgress",
    "ModelInfo",
    "PromptStyle",
    "RemoteIdCallback",
]


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


# --------------------------------------------------------------------------------------------------
# Values every kind returns


@dataclass(frozen=True)
class GenerationResult:
    """Result of txt2img / img2img. Images are the bytes the webui sent (PNG with its ``parameters`` chunk),
    without the grid. ``infotexts``, ``seeds`` and ``subseeds`` are aligned with ``images``."""

    images: tuple[bytes, ...]
    infotexts: tuple[str, ...]
    seeds: tuple[int, ...]
    subseeds: tuple[int, ...]
    info: dict[str, Any]
    parameters: dict[str, Any]
    elapsed: float

    @property
    def seed(self) -> int:
        """Seed of the first image (``info.seed`` when no image came back, e.g. an early interrupt)."""
        if self.seeds:
            return self.seeds[0]
        seed = self.info.get("seed")
        return seed if isinstance(seed, int) else -1


@dataclass(frozen=True)
class ModelInfo:
    title: str
    model_name: str
    hash: str | None
    filename: str


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str
    negative_prompt: str


@dataclass(frozen=True)
class BackendDescription:
    """The answer of ``detect``."""

    kind: BackendKind
    flavor: Flavor | None  # the webui implementation; None for the Horde
    version: str | None
    capabilities: frozenset[Capability]

    @property
    def lacks(self) -> frozenset[Capability]:
        """What this backend cannot do (``bot.py check`` names it)."""
        return frozenset(Capability) - self.capabilities


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
    preview_id: int = -1  # changes with each new live preview: the watchdog counts it as movement


# Called once a backend has accepted a request and named it (the Horde's request id): the worker stores the id
# with the job before anything else happens, so a restart resumes that request instead of sending a second one.
RemoteIdCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class CatalogExtras:
    """The optional lists of a backend (a webui without one of them, or a backend without any, still draws)."""

    loras: tuple[LoraInfo, ...] = ()
    embeddings: tuple[str, ...] = ()  # textual inversions usable with the loaded model
    adetailer: bool = False  # the ADetailer extension answers
    ad_models: tuple[str, ...] = ()  # ADetailer's detection models (face_yolov8n.pt ...)
    face_restorers: tuple[str, ...] = ()  # CodeFormer, GFPGAN (restore_faces)


@runtime_checkable
class CatalogSource(Protocol):
    """The lists ``easel.catalog.Catalog.refresh`` caches. A backend without one of them returns []."""

    async def sd_models(self) -> list[ModelInfo]: ...

    async def samplers(self) -> list[str]: ...

    async def schedulers(self) -> list[str]: ...

    async def prompt_styles(self) -> list[PromptStyle]: ...

    async def upscalers(self) -> list[str]: ...

    async def loaded_model(self) -> str | None:
        """Title of the model the backend has loaded; None when it has no such notion (the Horde)."""
        ...

    async def extras(self) -> CatalogExtras:
        """LoRAs, embeddings, ADetailer, face restorers: what the backend lists of them (``CatalogExtras()``: none)."""
        ...


@runtime_checkable
class BackendClient(CatalogSource, Protocol):
    """One backend. Every failure is raised as an ``easel.backends.errors.BackendError`` (``WebuiError``)
    subclass: the errors are shared by every kind."""

    name: str

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
        """Run ``request`` (its ``init_image`` loaded) to the end. ``model_title``: the backend's own name for the
        model to use (None: whatever it has loaded). ``remote_id``: a request this backend accepted before a
        restart, to resume instead of sending a new one."""
        ...

    async def upscale(
        self, image: bytes, *, upscaler: str, scale: float, extra: Mapping[str, float] | None = None
    ) -> bytes:
        """``image`` upscaled ``scale`` times with ``upscaler``; ``extra``: the Extras tab's face restoration keys
        (``gfpgan_visibility``, ``codeformer_visibility``, ``codeformer_weight``)."""
        ...

    async def interrogate(self, image: bytes, *, model: str) -> str:
        """What the backend's interrogator sees in ``image`` (``model``: "clip" for a sentence, "deepdanbooru" for
        tags); ``WebuiNotFound`` where the backend has no interrogator."""
        ...

    async def progress(self, task_id: str) -> JobProgress | None:
        """None: this backend cannot follow one task (the worker then waits for ``generate``)."""
        ...

    async def cancel(self, task_id: str) -> bool:
        """Stop ``task_id`` if it is ours and running; True when something was stopped."""
        ...

    async def close(self) -> None: ...
