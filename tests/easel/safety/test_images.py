"""easel/safety/images.py: the image check with the real NudeNet model (on pictures made here) and the test one.

No explicit picture exists in the repository: the real model is shown to load, run and flag nothing on plain
synthetic pictures; which detections flag a picture (labels, threshold) is shown on NudeNet-shaped answers; the
policy paths use :class:`StaticClassifier`, which implements the same interface.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from easel.safety.images import (
    INSTALL_COMMAND,
    MODEL_SIDE,
    NEEDS_INSTALL,
    Classifier,
    ImageVerdict,
    NudeNetClassifier,
    StaticClassifier,
    UnreadableImage,
    _verdict,
    load_classifier,
    main,
    missing_dependency,
    needs_install,
    probe_classifier,
    start_classifier,
    to_model_array,
)
from tests.helpers import make_config


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def gradient(side: int) -> Image.Image:
    g = Image.linear_gradient("L").resize((side, side))
    return Image.merge("RGB", (g, g.rotate(90), g.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def checkerboard(side: int, cell: int = 32) -> Image.Image:
    im = Image.new("RGB", (side, side), (240, 240, 240))
    draw = ImageDraw.Draw(im)
    for y in range(0, side, cell):
        for x in range(0, side, cell):
            if (x // cell + y // cell) % 2:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(20, 20, 20))
    return im


def text_picture(side: int) -> Image.Image:
    im = Image.new("RGB", (side, side), (30, 90, 160))
    draw = ImageDraw.Draw(im)
    for i, line in enumerate(("A red apple", "on a white table", "Easel test 1234")):
        draw.text((20, 20 + i * side // 5), line, fill=(255, 255, 200), font_size=side // 10)
    return im


PLAIN = {
    "gradient 512 PNG": encode(gradient(512)),
    "checkerboard 1024 PNG": encode(checkerboard(1024)),
    "text 768 JPEG": encode(text_picture(768), "JPEG"),
    "text 512x256 WebP": encode(text_picture(512).resize((512, 256)), "WEBP"),
    "grey 64 RGBA PNG": encode(Image.new("RGBA", (64, 64), (128, 128, 128, 100))),
    "palette GIF": encode(checkerboard(200).convert("P"), "GIF"),
}


@pytest.fixture(scope="module")
def nudenet() -> NudeNetClassifier:
    """One real classifier for the module (the model loads once; each test has its own event loop)."""
    return NudeNetClassifier(make_config().safety.nsfw_labels, 0.5)


# ---- the real model --------------------------------------------------------------------------------------


def test_nudenet_is_installed_for_the_tests() -> None:
    assert missing_dependency() is None  # requirements-dev.txt includes requirements-nsfw.txt
    loaded = load_classifier(make_config())
    assert isinstance(loaded.classifier, NudeNetClassifier) and loaded.reason == ""
    assert isinstance(loaded.classifier, Classifier) and isinstance(StaticClassifier(), Classifier)


@pytest.mark.parametrize("name", list(PLAIN))
async def test_the_real_model_flags_no_plain_synthetic_picture(nudenet: NudeNetClassifier, name: str) -> None:
    verdict = await asyncio.wait_for(nudenet.classify(PLAIN[name]), timeout=60)
    assert verdict == ImageVerdict(flagged=False, labels=())


async def test_the_real_model_sees_nothing_at_all_on_them_with_every_label(nudenet: NudeNetClassifier) -> None:
    """With every label and NudeNet's own floor (0.2) as threshold the plain pictures still give nothing."""
    from easel.config import NUDENET_LABELS

    everything = NudeNetClassifier(NUDENET_LABELS, 0.0)
    for name in ("gradient 512 PNG", "checkerboard 1024 PNG"):
        assert (await asyncio.wait_for(everything.classify(PLAIN[name]), timeout=60)).flagged is False, name


def test_pictures_reach_the_model_downscaled_in_nudenets_layout() -> None:
    im = Image.new("RGB", (1024, 512), (200, 10, 30))  # red
    array = to_model_array(encode(im))
    assert array.shape == (MODEL_SIDE // 2, MODEL_SIDE, 3) and array.dtype == np.uint8
    assert tuple(array[0, 0]) == (30, 10, 200)  # BGR, as NudeNet reads a file with OpenCV
    small = to_model_array(encode(Image.new("RGB", (100, 60))))
    assert small.shape == (60, 100, 3)  # never upscaled here


@pytest.mark.parametrize(
    "data",
    [b"", b"not a picture at all", encode(gradient(256))[:300], b"\x89PNG\r\n\x1a\n" + b"\0" * 64],
    ids=["empty", "text", "truncated PNG", "PNG header only"],
)
async def test_an_unreadable_input_is_a_clear_error_not_a_pass(nudenet: NudeNetClassifier, data: bytes) -> None:
    with pytest.raises(UnreadableImage, match=r"^not a picture"):
        await asyncio.wait_for(nudenet.classify(data), timeout=60)
    with pytest.raises(UnreadableImage, match=r"^not a picture"):
        await asyncio.wait_for(StaticClassifier().classify(data), timeout=60)


async def test_a_decompression_bomb_is_refused_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(Image.new("RGB", (300, 300)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200 * 200)  # Pillow's own setting, lowered for the test
    with pytest.raises(UnreadableImage, match="too large to check"):
        await asyncio.wait_for(StaticClassifier().classify(data), timeout=60)


class Counting(NudeNetClassifier):
    """The real classifier, counting the pictures in its worker threads at once. ``barrier`` makes the first
    ``max_parallel`` pictures meet inside (so the limit is reached, not only not exceeded)."""

    def __init__(self, max_parallel: int) -> None:
        super().__init__(("ANUS_EXPOSED",), 0.5, max_parallel=max_parallel)
        self.lock = threading.Lock()
        self.running = self.peak = self.done = 0
        self.barrier = threading.Barrier(max_parallel, timeout=30)

    def classify_sync(self, image: bytes) -> ImageVerdict:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            first = self.done == 0
        try:
            if first:
                self.barrier.wait()
            return super().classify_sync(image)
        finally:
            with self.lock:
                self.running -= 1
                self.done += 1


@pytest.mark.parametrize("limit", [1, 2])
async def test_the_concurrency_limit_holds_and_the_loop_keeps_running(limit: int) -> None:
    clf = Counting(limit)
    await asyncio.wait_for(clf.load(), timeout=60)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    tick_task = asyncio.create_task(ticker())
    pictures = [PLAIN["gradient 512 PNG"], PLAIN["checkerboard 1024 PNG"]] * 3
    verdicts = await asyncio.wait_for(asyncio.gather(*(clf.classify(p) for p in pictures)), timeout=120)
    stop.set()
    await tick_task
    assert [v.flagged for v in verdicts] == [False] * len(pictures)
    assert clf.peak == limit and clf.done == len(pictures)
    assert ticks > len(pictures)  # the event loop ran while the model did


async def test_the_limit_is_per_event_loop(nudenet: NudeNetClassifier) -> None:
    """The module's classifier served other tests' loops before this one: a semaphore bound to another loop
    would raise here."""
    verdict = await asyncio.wait_for(nudenet.classify(PLAIN["gradient 512 PNG"]), timeout=60)
    assert verdict.flagged is False


# ---- which detections flag a picture ---------------------------------------------------------------------


def test_only_the_configured_labels_at_the_threshold_flag() -> None:
    labels = frozenset({"ANUS_EXPOSED", "FEMALE_BREAST_EXPOSED"})
    detections = [
        {"class": "FACE_FEMALE", "score": 0.95, "box": [0, 0, 1, 1]},
        {"class": "FEMALE_BREAST_EXPOSED", "score": 0.49, "box": [0, 0, 1, 1]},
    ]
    assert _verdict(detections, labels, 0.5) == ImageVerdict(False, ())
    detections += [
        {"class": "FEMALE_BREAST_EXPOSED", "score": 0.5, "box": [0, 0, 1, 1]},
        {"class": "ANUS_EXPOSED", "score": 0.8, "box": [0, 0, 1, 1]},
        {"class": "ANUS_EXPOSED", "score": 0.6, "box": [0, 0, 1, 1]},
    ]
    assert _verdict(detections, labels, 0.5) == ImageVerdict(
        True, (("ANUS_EXPOSED", 0.8), ("FEMALE_BREAST_EXPOSED", 0.5))
    )
    assert _verdict(detections, labels, 0.9).flagged is False


# ---- the test classifier ---------------------------------------------------------------------------------


async def test_static_classifier_flags_the_marker_colour_only() -> None:
    clf = StaticClassifier(marker=(255, 0, 255), label="BUTTOCKS_EXPOSED", score=0.9)
    marked = gradient(128)
    marked.putpixel((0, 0), (255, 0, 255))
    assert await clf.classify(encode(marked)) == ImageVerdict(True, (("BUTTOCKS_EXPOSED", 0.9),))
    assert await clf.classify(encode(gradient(128))) == ImageVerdict(False, ())
    assert await clf.classify(encode(Image.new("RGBA", (8, 8), (255, 0, 255, 255)))) == ImageVerdict(
        True, (("BUTTOCKS_EXPOSED", 0.9),)
    )
    assert clf.seen == 3


# ---- loading, the start, the install hint ---------------------------------------------------------------


async def test_probe_and_start_load_and_run_the_model() -> None:
    cfg = make_config(safety={"nsfw_check": "blur"})
    clf, probe = await asyncio.wait_for(probe_classifier(cfg), timeout=120)
    assert probe.ok and isinstance(clf, NudeNetClassifier) and probe.run_seconds > 0
    assert "model loaded in" in probe.message and "one picture in" in probe.message
    assert isinstance(await asyncio.wait_for(start_classifier(cfg), timeout=120), NudeNetClassifier)


def test_missing_nudenet_gives_none_the_reason_and_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "nudenet", None)  # how the import system marks a module as absent
    reason = missing_dependency()
    assert reason == f"the image check needs nudenet, which is not installed: run {INSTALL_COMMAND}"
    loaded = load_classifier(make_config(safety={"nsfw_check": "refuse"}))
    assert loaded.classifier is None and loaded.reason == reason

    with caplog.at_level("INFO", logger="easel.safety.images"):
        assert asyncio.run(start_classifier(make_config(safety={"nsfw_check": "spoiler"}))) is None
    warning = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warning) == 1 and INSTALL_COMMAND in warning[0].getMessage()
    assert "only the channel policy (nsfw) applies" in warning[0].getMessage()
    caplog.clear()
    with caplog.at_level("INFO", logger="easel.safety.images"):
        assert asyncio.run(start_classifier(make_config())) is None  # off: nobody asked, no warning
    assert not [r for r in caplog.records if r.levelname == "WARNING"]

    assert needs_install(make_config(safety={"nsfw_check": "blur"})) is True
    assert needs_install(make_config()) is False


def test_needs_install_exit_status_for_the_start_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[backends]]\nurl = "http://127.0.0.1:7860"\n[safety]\nnsfw_check = "blur"\n')
    assert main(["--needs-install", "--config", str(path), "run"]) == 0  # installed here
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["check", "--needs-install", f"--config={path}"]) == NEEDS_INSTALL
    assert "requirements-nsfw.txt" in capsys.readouterr().out
    path.write_text('[[backends]]\nurl = "http://127.0.0.1:7860"\n')
    assert main(["--needs-install", "--config", str(path)]) == 0  # the check is off
    path.write_text("not toml [")
    assert main(["--needs-install", "--config", str(path)]) == 0  # bot.py reports a bad config itself
