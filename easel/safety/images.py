"""The image check: does a picture show what ``[safety] nsfw_labels`` call explicit?

A :class:`Classifier` answers one question per picture, ``await classify(image_bytes) -> ImageVerdict``, and never
blocks the event loop. Two implement it:

- :class:`NudeNetClassifier`: NudeNet's small ONNX detector (shipped inside the ``nudenet`` wheel, run by
  onnxruntime on the CPU). Optional: ``pip install -r requirements-nsfw.txt``. The model loads once, lazily, in a
  worker thread; every picture is decoded with Pillow, downscaled to the model's 320 px input and run in a worker
  thread, at most ``max_parallel`` at a time per event loop.
- :class:`StaticClassifier`: deterministic, for tests: a picture is flagged when its top-left pixel has the marker
  colour. It decodes with Pillow like the real one, so an unreadable input fails the same way.

A picture is *flagged* when NudeNet reports one of the configured labels at ``nsfw_threshold`` or above (NudeNet
itself reports nothing under 0.2). An input Pillow cannot read (not an image, truncated, a decompression bomb)
raises :class:`UnreadableImage`: the check never answers "not flagged" for a picture it could not look at; the
caller decides (refuse the upload; treat a result as flagged). Animated images: the first frame is checked.

At start the bot calls :func:`start_classifier` (classifier or None, with a WARNING naming the install command
when the config wants the check and it is missing); ``bot.py check`` calls :func:`probe_classifier`. Start scripts
run ``python -m easel.safety.images --needs-install --config FILE``: exit status 3 means "the config turns the
check on and NudeNet is missing: install requirements-nsfw.txt".
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import logging
import sys
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from PIL import Image, UnidentifiedImageError

from easel.config import Config, ConfigError, NsfwCheck, SafetyConfig, load_config
from easel.i18n import _

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

INSTALL_COMMAND = ".venv/bin/pip install -r requirements-nsfw.txt"
MODEL_SIDE = 320  # the input side of NudeNet's bundled 320n.onnx: pictures are downscaled to it before the model
MAX_PARALLEL = 1  # pictures classified at once per event loop (onnxruntime already uses every core for one)
NEEDS_INSTALL = 3  # exit status of ``python -m easel.safety.images --needs-install``
_REQUIRED = ("nudenet", "onnxruntime", "numpy", "cv2")  # cv2: opencv-python-headless, which nudenet imports


@dataclass(frozen=True)
class ImageVerdict:
    """One picture's answer. ``labels``: the detections that count (a configured label at or above the
    threshold), highest score first, each ``(label, score)``; ``flagged`` is true when there is any."""

    flagged: bool
    labels: tuple[tuple[str, float], ...] = ()


class UnreadableImage(ValueError):
    """The bytes are not a picture Pillow can decode; the message says why in one line."""


class ClassifierError(RuntimeError):
    """The classifier could not load or run its model (not the picture's fault)."""


@runtime_checkable
class Classifier(Protocol):
    async def classify(self, image: bytes) -> ImageVerdict:
        """Look at one encoded picture (PNG, JPEG, WebP, ...). Raises UnreadableImage or ClassifierError."""
        ...


def _open(data: bytes) -> Image.Image:
    """Decode ``data`` (the first frame) to RGB, or raise UnreadableImage. Pillow's decompression-bomb limit holds."""
    try:
        im = Image.open(io.BytesIO(data))
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and im.width * im.height > limit:
            raise UnreadableImage(
                _("the picture is too large to check ({width}x{height})").format(width=im.width, height=im.height)
            )
        im.draft("RGB", (MODEL_SIDE, MODEL_SIDE))  # JPEG: decode at a reduced scale (a no-op for others)
        im.load()
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(_("the picture is too large to check ({exc})").format(exc=exc)) from None
    except UnidentifiedImageError:
        raise UnreadableImage(_("not a picture (no image format recognised)")) from None
    except (OSError, ValueError, SyntaxError) as exc:
        if isinstance(exc, UnreadableImage):
            raise
        raise UnreadableImage(
            _("not a picture that can be read ({error}: {exc})").format(error=type(exc).__name__, exc=exc)
        ) from None
    if im.mode == "RGB":
        return im
    try:
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")  # transparent pixels: their own colour, as NudeNet's reader keeps it
        return im.convert("RGB")
    except (OSError, ValueError) as exc:  # a mode Pillow can't convert
        raise UnreadableImage(
            _("not a picture that can be read ({mode} pixels: {exc})").format(mode=im.mode, exc=exc)
        ) from None


def to_model_array(data: bytes, side: int = MODEL_SIDE) -> np.ndarray:
    """``data`` decoded and downscaled so its longer side is at most ``side`` (aspect kept, antialiased), as the
    array NudeNet reads from a file: height x width x 3, uint8, BGR. Raises UnreadableImage."""
    import numpy as np

    im = _open(data)
    if max(im.size) > side:
        im.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8)[:, :, ::-1])


def _verdict(detections: Iterable[dict[str, Any]], labels: frozenset[str], threshold: float) -> ImageVerdict:
    best: dict[str, float] = {}
    for d in detections:
        label, score = str(d.get("class")), float(d.get("score", 0.0))
        if label in labels and score >= threshold and score > best.get(label, -1.0):
            best[label] = score
    hits = tuple(sorted(((k, round(v, 4)) for k, v in best.items()), key=lambda kv: (-kv[1], kv[0])))
    return ImageVerdict(flagged=bool(hits), labels=hits)


class _PerLoopLimit:
    """An asyncio.Semaphore per running event loop (a semaphore is bound to the loop it is first used on)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.limit)
        return sem


class NudeNetClassifier:
    """NudeNet's detector behind :class:`Classifier`: decoding and the model run in worker threads, at most
    ``max_parallel`` pictures at a time per event loop; the model loads once, at the first use (or :meth:`load`)."""

    def __init__(self, labels: Iterable[str], threshold: float, *, max_parallel: int = MAX_PARALLEL) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.labels = frozenset(labels)
        self.threshold = float(threshold)
        self.max_parallel = max_parallel
        self._slot = _PerLoopLimit(max_parallel)
        self._lock = threading.Lock()
        self._detector: Any = None

    @classmethod
    def from_config(cls, safety: SafetyConfig, *, max_parallel: int = MAX_PARALLEL) -> NudeNetClassifier:
        return cls(safety.nsfw_labels, safety.nsfw_threshold, max_parallel=max_parallel)

    def _load_sync(self) -> Any:
        with self._lock:
            if self._detector is None:
                try:
                    from nudenet import NudeDetector

                    self._detector = NudeDetector()
                except Exception as exc:  # ImportError, onnxruntime's errors on a damaged model file
                    raise ClassifierError(f"NudeNet could not load ({type(exc).__name__}: {exc})") from exc
            return self._detector

    async def load(self) -> None:
        """Load the model now (in a worker thread) rather than at the first picture. Raises ClassifierError."""
        await asyncio.to_thread(self._load_sync)

    def classify_sync(self, image: bytes) -> ImageVerdict:
        """The blocking check: decode, downscale, run the model. Call it from a worker thread only."""
        array = to_model_array(image)
        detector = self._load_sync()
        try:
            detections = detector.detect(array)
        except Exception as exc:
            raise ClassifierError(f"NudeNet failed on a {array.shape[1]}x{array.shape[0]} picture: {exc}") from exc
        return _verdict(detections, self.labels, self.threshold)

    async def classify(self, image: bytes) -> ImageVerdict:
        async with self._slot():
            return await asyncio.to_thread(self.classify_sync, image)


class StaticClassifier:
    """A deterministic :class:`Classifier` for tests: flags a picture whose top-left pixel is ``marker`` (RGB).

    It decodes with Pillow in a worker thread like the real one (so unreadable bytes raise UnreadableImage) and
    keeps a count of the pictures it saw. ``label``/``score`` are what a flagged verdict reports.
    """

    def __init__(
        self,
        marker: tuple[int, int, int] = (255, 0, 255),
        *,
        label: str = "FEMALE_BREAST_EXPOSED",
        score: float = 0.99,
    ) -> None:
        self.marker = marker
        self.label = label
        self.score = score
        self.seen = 0

    def _classify_sync(self, image: bytes) -> ImageVerdict:
        pixel = _open(image).getpixel((0, 0))
        if pixel == self.marker:
            return ImageVerdict(flagged=True, labels=((self.label, self.score),))
        return ImageVerdict(flagged=False)

    async def classify(self, image: bytes) -> ImageVerdict:
        self.seen += 1
        return await asyncio.to_thread(self._classify_sync, image)


# ---- loading: the classifier, or None and why ------------------------------------------------------------


def missing_dependency() -> str | None:
    """None when NudeNet and what it runs on are importable; else a one-line reason with the install command."""
    missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    names = ", ".join("opencv-python-headless (cv2)" if m == "cv2" else m for m in missing)
    return f"the image check needs {names}, which is not installed: run {INSTALL_COMMAND}"


@dataclass(frozen=True)
class ClassifierLoad:
    """:func:`load_classifier`'s answer: a classifier, or None and ``reason`` (one line, with the fix)."""

    classifier: Classifier | None
    reason: str = ""


def load_classifier(cfg: Config | SafetyConfig) -> ClassifierLoad:
    """The classifier the config asks for, not loaded yet (the model loads at first use), or None and why.

    A classifier is made whenever NudeNet is installed, even with a global ``nsfw_check = "off"``: a server may
    still turn the check on with /settings."""
    safety = cfg.safety if isinstance(cfg, Config) else cfg
    reason = missing_dependency()
    if reason is not None:
        return ClassifierLoad(None, reason)
    return ClassifierLoad(NudeNetClassifier.from_config(safety))


def _probe_image(side: int = 64) -> bytes:
    """A tiny synthetic picture (a grey gradient) as PNG: what the start and ``bot.py check`` run the model on."""
    im = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class ProbeResult:
    """The classifier tried on a tiny picture. ``ok``: it loaded and ran; ``message``: one line (the fix if not)."""

    ok: bool
    message: str
    load_seconds: float = 0.0
    run_seconds: float = 0.0


async def probe_classifier(cfg: Config | SafetyConfig) -> tuple[Classifier | None, ProbeResult]:
    """Load the classifier and run it once on a tiny synthetic picture, timing both (for the start and
    ``bot.py check``). Returns the loaded classifier (None when it can't be used) and what happened."""
    loaded = load_classifier(cfg)
    clf = loaded.classifier
    if clf is None:
        return None, ProbeResult(False, loaded.reason)
    started = time.perf_counter()
    try:
        if isinstance(clf, NudeNetClassifier):
            await clf.load()
        loaded_at = time.perf_counter()
        verdict = await clf.classify(_probe_image())
    except (ClassifierError, UnreadableImage) as exc:
        return None, ProbeResult(False, f"{exc}: reinstall it with {INSTALL_COMMAND}")
    done = time.perf_counter()
    load_s, run_s = loaded_at - started, done - loaded_at
    if verdict.flagged:  # a plain gradient: the model or the labels are not what they should be
        return None, ProbeResult(
            False, f"the image check flags a plain test picture ({verdict.labels}): check [safety] nsfw_threshold"
        )
    return clf, ProbeResult(
        True, f"model loaded in {load_s:.2f} s, one picture in {run_s * 1000:.0f} ms", load_s, run_s
    )


async def start_classifier(cfg: Config) -> Classifier | None:
    """What the bot calls once at start: the loaded classifier, or None with a WARNING (install command included)
    when the config turns the check on and it cannot be used. With None, only the channel policy (``nsfw``) applies:
    never a silent "allow"."""
    clf, probe = await probe_classifier(cfg)
    if clf is not None:
        log.info("image check: NudeNet ready (%s)", probe.message)
        return clf
    if cfg.safety.nsfw_check is not NsfwCheck.OFF:
        log.warning(
            "image check: [safety] nsfw_check = %r but %s; until then only the channel policy (nsfw) applies",
            str(cfg.safety.nsfw_check),
            probe.message,
        )
    else:
        log.info("image check unavailable (%s); servers that set nsfw_check get the channel policy", probe.message)
    return None


def needs_install(cfg: Config) -> bool:
    """The config turns the image check on and NudeNet is not installed."""
    return cfg.safety.nsfw_check is not NsfwCheck.OFF and missing_dependency() is not None


def main(argv: list[str] | None = None) -> int:
    """``python -m easel.safety.images --needs-install [--config FILE] [other bot.py arguments]``: exit 3 when the
    config turns the check on and NudeNet is missing, else 0 (also for a bad config: bot.py reports it)."""
    parser = argparse.ArgumentParser(prog="python -m easel.safety.images")
    parser.add_argument("--needs-install", action="store_true", required=True)
    parser.add_argument("--config", default="config.toml", type=Path)
    args, _ = parser.parse_known_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError:
        return 0
    if needs_install(cfg):
        print(
            f"easel: [safety] nsfw_check = {str(cfg.safety.nsfw_check)!r}: the image check needs requirements-nsfw.txt"
        )
        return NEEDS_INSTALL
    return 0


if __name__ == "__main__":
    sys.exit(main())
