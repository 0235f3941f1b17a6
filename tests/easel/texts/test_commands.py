"""Text of /help, /models, /status, /queue and /cancel (easel.texts.commands), without Discord."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from easel.backends.webui import ModelInfo
from easel.catalog import BackendCatalog, Catalog
from easel.config import parse_config
from easel.texts.commands import (
    BackendState,
    QueueEntry,
    cancel_choice,
    help_options_text,
    help_text,
    models_text,
    queue_text,
    status_text,
    unknown_job_text,
)

BACKENDS = [{"name": "gpu-a", "url": "http://127.0.0.1:7860"}]


def model(name: str) -> ModelInfo:
    return ModelInfo(title=f"{name}.safetensors [abc]", model_name=name, hash="abc", filename=f"/m/{name}.safetensors")


def catalog(**by_backend: list[str]) -> Catalog:
    cat = Catalog()
    for backend, names in by_backend.items():
        cat.set(backend, BackendCatalog(models=tuple(model(n) for n in names)))
    return cat


@dataclass
class StubJob:
    id: str


@dataclass
class StubBackend:
    name: str
    up: bool = True
    current: Any = None
    loaded_model: str | None = None
    last_error: str | None = None


# ---- /help -------------------------------------------------------------------------------------------


def test_help_lists_commands_and_every_draw_option() -> None:
    cfg = parse_config({"backends": BACKENDS, "limits": {"max_steps": 40}}, env={})
    text, options_text = help_text(cfg), help_options_text(cfg)
    assert len(text) <= 2000 and len(options_text) <= 4096  # a message and its embed
    for command in ("/draw", "/queue", "/cancel", "/models", "/preset", "/upscale", "/describe", "/status", "/help"):
        assert f"`{command}`" in text
    options = (
        "prompt negative_prompt model sampler scheduler steps width height aspect cfg_scale seed count style "
        "lora face_fix hires_fix init_image strength spoiler"
    ).split()
    for option in options:
        assert f"`{option}`" in options_text, option
    assert "1-40" in options_text  # the server's own limits
    assert "512x512" in options_text
    assert "`aspect` default, 1:1, 4:3, 3:4, 3:2, 2:3, 16:9, 9:16, 21:9: " in options_text  # no "(default default)"
    assert "the other follows, with both they win" in options_text
    with_ratio = help_options_text(parse_config({"backends": BACKENDS, "defaults": {"aspect": "16:9"}}, env={}))
    assert "21:9 (default 16:9): " in with_ratio


def test_help_fits_with_long_config_values() -> None:
    raw = {
        "backends": BACKENDS,
        "defaults": {"model": "m" * 300, "sampler": "s_*" * 100},
        "limits": {"max_pixels": 500_000, "cooldown_seconds": 30},
    }
    cfg = parse_config(raw, env={})
    text, options_text = help_text(cfg), help_options_text(cfg)
    assert len(text) <= 2000 and len(options_text) <= 4096
    assert "500,000 pixels" in options_text and "30 s" in text
    assert "s\\_\\*" in options_text  # markdown escaped
    assert options_text.rstrip().endswith("(default 512x512).")  # the long names are cut, not the end


# ---- /models -----------------------------------------------------------------------------------------


def test_models_one_backend() -> None:
    text = models_text(catalog(a=["sd_xl", "anything-v5"]), ["a"], loaded={"a": "sd_xl"})
    assert text.splitlines()[0].startswith("**2 model(s)**")
    assert "• anything-v5" in text
    assert "• sd\\_xl (loaded)" in text  # escaped, and no backend list with a single backend


def test_models_several_backends() -> None:
    text = models_text(catalog(a=["one", "two"], b=["two"]), ["a", "b"], loaded={"b": "two"})
    assert "• one — a" in text
    assert "• two — a, b (loaded on b)" in text


def test_models_truncated_to_fit() -> None:
    names = [f"model-{i:03d}-{'x' * 60}" for i in range(200)]
    text = models_text(catalog(a=names), ["a"])
    assert len(text) <= 2000
    last = text.splitlines()[-1]
    assert last.startswith("… and ") and "more" in last
    shown = sum(1 for line in text.splitlines() if line.startswith("• "))
    assert f"and {200 - shown} more" in last


def test_models_none_known() -> None:
    text = models_text(Catalog(), ["a"])
    assert "No models known yet" in text and "bot.py check" in text


# ---- /status -----------------------------------------------------------------------------------------


def test_status() -> None:
    backends = [
        StubBackend("gpu-a", current=StubJob("abc123"), loaded_model="sd_xl"),
        StubBackend("gpu-b", loaded_model="v1-5"),
        StubBackend("gpu-c", up=False, last_error="gpu-c /sdapi/v1/sd-models: cannot connect: refused"),
        StubBackend("gpu-d", up=False),
    ]
    text = status_text(
        queued=3,
        running=1,
        backends=backends,
        counts={"delivered": 40, "failed": 2, "queued": 3},
        generated_since_start=12,
    )
    lines = text.splitlines()
    assert lines[0] == "**Line:** 3 waiting, 1 being drawn"
    assert lines[1] == "**Image servers:** 2 of 4 up"
    assert "• **gpu-a**: busy, model sd\\_xl" in lines  # someone else's job: no id
    assert "• **gpu-b**: up, idle, model v1-5" in lines
    assert "• **gpu-c**: down" in lines and "refused" not in text  # why is in the log, not for members
    assert "• **gpu-d**: down" in lines
    assert "**Delivered:** 40 job(s) (2 failed)" in lines
    assert "**Drawn since the bot started:** 12" in lines


def test_status_without_counts_and_many_backends() -> None:
    backends = [StubBackend(f"backend-{i:02d}-{'y' * 30}", up=False, last_error="e" * 200) for i in range(40)]
    text = status_text(queued=0, running=0, backends=backends, counts=None)
    assert len(text) <= 2000
    assert "Delivered" not in text
    assert "more" in text.splitlines()[-1]


# ---- /queue and /cancel ------------------------------------------------------------------------------


def test_queue_lists_running_and_waiting_jobs_then_the_line_and_backends() -> None:
    entries = [
        QueueEntry("run1", "a *bold* fox", position=None, backend="gpu_a"),
        QueueEntry("wait2", "a cat", position=2, starts=1_900_000_000.7),
        QueueEntry("wait3", "a dog\non two lines", position=3),
    ]
    backends = [BackendState("gpu_a", up=True, busy=True), BackendState("gpu-b", up=False, busy=False)]
    text = queue_text(entries, queued=4, running=1, backends=backends)
    assert text.splitlines() == [
        "`run1` running on **gpu\\_a**: a \\*bold\\* fox",
        "`wait2` #2 in line, starts <t:1900000000:R>: a cat",
        "`wait3` #3 in line: a dog on two lines",
        "",
        "Line: 4 waiting, 1 drawing.",
        "• **gpu\\_a**: up (busy)",
        "• **gpu-b**: down",
    ]


def test_queue_without_jobs() -> None:
    text = queue_text([], queued=0, running=0, backends=[BackendState("gpu", up=True, busy=False)])
    assert text == "You have no jobs waiting.\n\nLine: 0 waiting, 0 drawing.\n• **gpu**: up"


def test_queue_with_many_long_jobs_fits_one_message_and_keeps_the_line() -> None:
    entries = [QueueEntry(f"job{i:04d}", "x" * 300, position=i + 1, starts=2e9) for i in range(100)]
    backends = [BackendState(f"backend-{i}", up=True, busy=False) for i in range(3)]
    text = queue_text(entries, queued=100, running=0, backends=backends)
    assert len(text) <= 2000
    assert text.startswith("`job0000` #1 in line")
    assert "more of your jobs" in text
    assert "Line: 100 waiting, 0 drawing." in text and text.endswith("• **backend-2**: up")


def test_unknown_job_shows_the_id_without_markup() -> None:
    assert unknown_job_text(" ab`c**d@everyone ") == "No waiting or running job `abcdeveryone`."
    assert unknown_job_text("x" * 50) == f"No waiting or running job `{'x' * 16}`."


def test_cancel_choice_fits_discord() -> None:
    assert cancel_choice("abc", None, "a red fox") == "abc (running): a red fox"
    assert cancel_choice("abc", 3, "a red fox") == "abc (#3): a red fox"
    assert len(cancel_choice("j" * 16, 12, "y" * 500)) <= 100


def test_models_lists_loras_and_embeddings_with_their_backends() -> None:
    from easel.catalog import BackendCatalog
    from easel.loras import LoraInfo

    cat = Catalog()
    cat.set("a", BackendCatalog(models=(model("one"),), loras=(LoraInfo("add_detail"),), embeddings=("EasyNegative",)))
    cat.set("b", BackendCatalog(models=(model("one"),), loras=(LoraInfo("add_detail"), LoraInfo("pixel_art"))))
    text = models_text(cat, ["a", "b"])
    assert "**2 LoRA(s)** (/draw's `lora` option; it autocompletes): add\\_detail, pixel\\_art (b)" in text
    assert "**1 embedding(s)** (write the name in a prompt or negative prompt): EasyNegative (a)" in text
    many = Catalog()
    names = tuple(f"embedding-{i:03d}-{'x' * 40}" for i in range(100))
    many.set("a", BackendCatalog(models=tuple(model(f"m{i}-{'y' * 50}") for i in range(100)), embeddings=names))
    text = models_text(many, ["a"])
    assert len(text) <= 2000 and "**100 embedding(s)**" in text and text.rstrip().endswith("more")
