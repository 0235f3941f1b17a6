"""A loopback fake of the AUTOMATIC1111 webui HTTP API (1.10.1), with Forge / SD.Next flavours.

It listens on 127.0.0.1 (random port) and behaves like the checklist in docs/webui.md: one FIFO lock
for generation routes, a global ``/progress`` that moves while a job runs, ``/internal/progress`` per task id,
real PNGs with a ``parameters`` text chunk, ``info`` as a JSON *string*, the two error shapes, optional Basic
auth, and payload validation against the real OpenAPI document (``tests/specs/a1111-openapi.json``).

Test controls: ``fail_next``, ``hang_next`` / ``release_hung``, ``hold`` / ``release`` (keep a generation
running until the test says so), ``down`` / ``up`` (close / reopen the listener on the same port),
``wait_generation_started`` and ``wait_for(predicate)``. Every wait is bounded; ``stop()`` frees everything.
SD.Next's caption routes (``/sdapi/v1/openclip``, ``/sdapi/v1/tagger``) are served only when asked for:
``captions=("openclip", "tagger")`` or ``serve_captions(...)``; without them they 404 like any unknown route.

For benchmarks: ``image_style="noise"`` answers incompressible PNGs (~3 MB at 1024x1024) instead of small
gradients; ``spans`` and ``answer_times`` record, in event-loop time, when each generation held the lock and
when each answer was handed to the HTTP server.

Usage::

    async with FakeWebui() as fake:
        client = WebuiClient(fake.url, session)
        ...
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import functools
import hashlib
import io
import json
import logging
import math
import random
import string
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft7Validator
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from easel.infotext import format_infotext, parse_infotext, read_png_text

__all__ = [
    "AD_MODELS",
    "DEFAULT_LORAS",
    "DEFAULT_STYLES",
    "FACE_RESTORERS",
    "LATENT_UPSCALE_MODES",
    "SAMPLERS_1101",
    "SCHEDULERS_1101",
    "UPSCALERS",
    "FakeWebui",
    "validate_payload",
    "validation_details",
]

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "a1111-openapi.json"
_SPEC_URI = "urn:easel:a1111-openapi"
_SCHEMA_NAMES = {
    "txt2img": "StableDiffusionProcessingTxt2Img",
    "img2img": "StableDiffusionProcessingImg2Img",
}
# pydantic 1 accepts null on every optional field except these (docs/webui.md, specs/SOURCES.md).
_NOT_NULLABLE = frozenset({"sampler_index", "script_args", "send_images", "save_images", "alwayson_scripts"})
_NOT_NULLABLE_IMG2IMG = _NOT_NULLABLE | {"include_init_images", "denoising_strength"}

# ---------------------------------------------------------------------------------------------------
# Static data (A1111 1.10.1)

# (name, aliases, options) in /samplers order; option values are strings in the API.
SAMPLERS_1101: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    ("DPM++ 2M", ("k_dpmpp_2m",), {"scheduler": "karras"}),
    ("DPM++ SDE", ("k_dpmpp_sde",), {"second_order": "True", "brownian_noise": "True", "scheduler": "karras"}),
    ("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), {"brownian_noise": "True", "scheduler": "exponential"}),
    (
        "DPM++ 2M SDE Heun",
        ("k_dpmpp_2m_sde_heun",),
        {"brownian_noise": "True", "solver_type": "heun", "scheduler": "exponential"},
    ),
    ("DPM++ 2S a", ("k_dpmpp_2s_a",), {"uses_ensd": "True", "second_order": "True", "scheduler": "karras"}),
    (
        "DPM++ 3M SDE",
        ("k_dpmpp_3m_sde",),
        {"discard_next_to_last_sigma": "True", "brownian_noise": "True", "scheduler": "exponential"},
    ),
    ("Euler a", ("k_euler_a", "k_euler_ancestral"), {"uses_ensd": "True"}),
    ("Euler", ("k_euler",), {}),
    ("LMS", ("k_lms",), {}),
    ("Heun", ("k_heun",), {"second_order": "True"}),
    ("DPM2", ("k_dpm_2",), {"discard_next_to_last_sigma": "True", "second_order": "True", "scheduler": "karras"}),
    (
        "DPM2 a",
        ("k_dpm_2_a",),
        {"discard_next_to_last_sigma": "True", "uses_ensd": "True", "second_order": "True", "scheduler": "karras"},
    ),
    ("DPM fast", ("k_dpm_fast",), {"uses_ensd": "True"}),
    ("DPM adaptive", ("k_dpm_ad",), {"uses_ensd": "True"}),
    ("Restart", ("restart",), {"scheduler": "karras", "second_order": "True"}),
    ("DDIM", ("ddim",), {}),
    ("DDIM CFG++", ("ddim_cfgpp",), {}),
    ("PLMS", ("plms",), {}),
    ("UniPC", ("unipc",), {}),
    ("LCM", ("k_lcm",), {}),
)
SAMPLER_NAMES_1101: tuple[str, ...] = tuple(s[0] for s in SAMPLERS_1101)

# (name, label, aliases, default_rho, need_inner_model)
SCHEDULERS_1101: tuple[tuple[str, str, list[str] | None, float, bool], ...] = (
    ("automatic", "Automatic", None, -1.0, False),
    ("uniform", "Uniform", None, -1.0, True),
    ("karras", "Karras", None, 7.0, False),
    ("exponential", "Exponential", None, -1.0, False),
    ("polyexponential", "Polyexponential", None, 1.0, False),
    ("sgm_uniform", "SGM Uniform", ["SGMUniform"], -1.0, True),
    ("kl_optimal", "KL Optimal", None, -1.0, False),
    ("align_your_steps", "Align Your Steps", None, -1.0, False),
    ("simple", "Simple", None, -1.0, True),
    ("normal", "Normal", None, -1.0, True),
    ("ddim", "DDIM", None, -1.0, True),
    ("beta", "Beta", None, -1.0, True),
)

# (name, scale)
UPSCALERS: tuple[tuple[str, float | None], ...] = (
    ("None", None),
    ("Lanczos", 4.0),
    ("Nearest", 4.0),
    ("DAT x2", 2.0),
    ("DAT x4", 4.0),
    ("ESRGAN_4x", 4.0),
    ("LDSR", 4.0),
    ("R-ESRGAN 4x+", 4.0),
    ("R-ESRGAN 4x+ Anime6B", 4.0),
    ("ScuNET GAN", 4.0),
    ("ScuNET PSNR", 4.0),
    ("SwinIR 4x", 4.0),
)
LATENT_UPSCALE_MODES: tuple[str, ...] = (
    "Latent",
    "Latent (antialiased)",
    "Latent (bicubic)",
    "Latent (bicubic antialiased)",
    "Latent (nearest)",
    "Latent (nearest-exact)",
)
DEFAULT_STYLES: tuple[tuple[str, str, str], ...] = (
    ("cinematic", "cinematic still of {prompt}, shallow depth of field, film grain", "cartoon, painting"),
    ("watercolor", "watercolor painting", "photo, 3d render"),
)
DEFAULT_LORAS: tuple[str, ...] = ("add_detail", "lcm-lora-sdv1-5")
FACE_RESTORERS: tuple[str, ...] = ("CodeFormer", "GFPGAN")
# ADetailer (Bing-su/adetailer): its detection models and what it writes into the infotext of a fixed image.
AD_MODELS: tuple[str, ...] = (
    "face_yolov8n.pt",
    "face_yolov8s.pt",
    "hand_yolov8n.pt",
    "person_yolov8n-seg.pt",
    "mediapipe_face_full",
)
AD_VERSION = "24.9.0"

_SELECTABLE_SCRIPTS = {
    "txt2img": ("Prompt matrix", "Prompts from file or textbox", "X/Y/Z plot"),
    "img2img": (
        "img2img alternative test",
        "Loopback",
        "Outpainting mk2",
        "Poor man's outpainting",
        "Prompt matrix",
        "Prompts from file or textbox",
        "SD upscale",
        "X/Y/Z plot",
    ),
}
_ALWAYSON_SCRIPTS = {
    "txt2img": ("Extra options", "Hypertile", "Refiner", "Seed", "Sampler"),
    "img2img": ("Extra options", "Hypertile", "Refiner", "Seed", "Sampler", "Soft Inpainting"),
}

_FLAVORS = ("a1111", "forge", "sdnext")
_VERSIONS = {"a1111": "v1.10.1", "forge": "f2.0.1v1.10.1-previous-669-gdfdcbab6", "sdnext": "058a7f0"}
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF", b"GIF87a", b"GIF89a", b"BM")

# ---------------------------------------------------------------------------------------------------
# Payload validation


@functools.cache
def _validators() -> dict[str, tuple[Draft7Validator, dict[str, Any]]]:
    doc = copy.deepcopy(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
    schemas = doc["components"]["schemas"]
    originals: dict[str, dict[str, Any]] = {}
    for kind, name in _SCHEMA_NAMES.items():
        props = schemas[name]["properties"]
        originals[kind] = copy.deepcopy(props)
        not_null = _NOT_NULLABLE_IMG2IMG if kind == "img2img" else _NOT_NULLABLE
        for key, prop in props.items():
            if key not in not_null and "type" in prop:
                prop["type"] = [prop["type"], "null"]
    registry: Registry = Registry().with_resource(_SPEC_URI, Resource.from_contents(doc, DRAFT7))
    out = {}
    for kind, name in _SCHEMA_NAMES.items():
        schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}
        out[kind] = (Draft7Validator(schema, registry=registry), originals[kind])
    return out


_PYDANTIC_TYPE_ERRORS = {
    "integer": ("value is not a valid integer", "type_error.integer"),
    "number": ("value is not a valid float", "type_error.float"),
    "string": ("str type expected", "type_error.str"),
    "boolean": ("value could not be parsed to a boolean", "type_error.bool"),
    "array": ("value is not a valid list", "type_error.list"),
    "object": ("value is not a valid dict", "type_error.dict"),
}


def validation_details(kind: str, payload: Any) -> list[dict[str, Any]]:
    """Check a txt2img/img2img payload against the webui's OpenAPI schema; returns FastAPI/pydantic-1 style
    ``{"loc", "msg", "type"}`` items (empty when valid). Stricter than pydantic 1 in one way: no coercion, so
    ``"20"`` for an integer or ``1`` for a boolean is reported (Forge's pydantic 2 rejects some of these too,
    and a bot has no reason to send them)."""
    if kind not in _SCHEMA_NAMES:
        raise ValueError(f"kind must be txt2img or img2img, not {kind!r}")
    if not isinstance(payload, dict):
        return [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
    validator, originals = _validators()[kind]
    out: list[dict[str, Any]] = []
    for err in sorted(validator.iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(err.absolute_path)
        loc: list[Any] = ["body", *path]
        if err.instance is None:
            out.append({"loc": loc, "msg": "none is not an allowed value", "type": "type_error.none.not_allowed"})
            continue
        if err.validator == "type":
            declared = err.validator_value
            if isinstance(declared, list):
                declared = next((t for t in declared if t != "null"), "string")
            if len(path) == 1 and isinstance(path[0], str) and path[0] in originals:
                declared = originals[path[0]].get("type", declared)
            msg, typ = _PYDANTIC_TYPE_ERRORS.get(str(declared), (err.message, "type_error"))
            out.append({"loc": loc, "msg": msg, "type": typ})
        else:
            out.append({"loc": loc, "msg": err.message, "type": f"value_error.{err.validator}"})
    return out


# pydantic 2's wording for the type errors pydantic 1 words as in _PYDANTIC_TYPE_ERRORS (Forge, SD.Next)
_PYDANTIC2_TYPE_ERRORS = {
    "type_error.integer": ("int_parsing", "Input should be a valid integer"),
    "type_error.float": ("float_parsing", "Input should be a valid number"),
    "type_error.str": ("string_type", "Input should be a valid string"),
    "type_error.bool": ("bool_parsing", "Input should be a valid boolean"),
    "type_error.list": ("list_type", "Input should be a valid list"),
    "type_error.dict": ("dict_type", "Input should be a valid dictionary"),
    "type_error.none.not_allowed": ("none_forbidden", "Input should not be None"),
}


def _pydantic2_item(item: dict[str, Any], body: Any) -> dict[str, Any]:
    """A pydantic-1 validation item in pydantic 2's form ``{type, loc, msg, input}``."""
    typ, msg = _PYDANTIC2_TYPE_ERRORS.get(item["type"], (item["type"].rpartition(".")[2], item["msg"]))
    value: Any = body
    for part in item["loc"][1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return {"type": typ, "loc": item["loc"], "msg": msg, "input": value}


def _forge_field_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Forge's own request fields (not in A1111's schema): numbers, strictly (pydantic 2)."""
    out = []
    for key in ("distilled_cfg_scale", "hr_distilled_cfg", "hr_cfg"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            out.append({"loc": ["body", key], "msg": "value is not a valid float", "type": "type_error.float"})
    return out


def body_has(p: dict[str, Any], key: str) -> bool:
    return p.get(key) is not None


def validate_payload(kind: str, payload: Any) -> list[str]:
    """Like ``validation_details`` but as readable strings, e.g. ``"steps: value is not a valid integer"``."""
    out = []
    for item in validation_details(kind, payload):
        loc = ".".join(str(p) for p in item["loc"][1:]) or "body"
        out.append(f"{loc}: {item['msg']}")
    return out


# ---------------------------------------------------------------------------------------------------
# Helpers


@dataclass(frozen=True)
class _Model:
    name: str  # path relative to the models folder, without extension
    model_name: str
    title: str
    hash: str
    sha256: str
    filename: str

    @classmethod
    def make(cls, name: str) -> _Model:
        sha = hashlib.sha256(name.encode()).hexdigest()
        return cls(
            name=name,
            model_name=name.replace("/", "_").replace("\\", "_"),
            title=f"{name}.safetensors [{sha[:10]}]",
            hash=sha[:10],
            sha256=sha,
            filename=f"/models/Stable-diffusion/{name}.safetensors",
        )

    def aliases(self) -> set[str]:
        return {
            self.title,
            self.name,
            self.model_name,
            f"{self.name}.safetensors",
            self.hash,
            self.sha256,
            self.sha256[:8],
            f"{self.name} [{self.hash}]",
        }


class _Reply(Exception):
    """Raised inside handlers to answer with a given status and JSON body."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


@dataclass
class _State:
    job: str = ""
    job_count: int = 0
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    interrupted: bool = False
    skipped: bool = False
    job_timestamp: str = "0"
    time_start: float = 0.0
    preview_seed: int = 0
    textinfo: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": False,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }


def _seed_colour(seed: int) -> tuple[int, int, int]:
    x = (seed * 2654435761) & 0xFFFFFFFF
    return (x & 0xFF, (x >> 8) & 0xFF, (x >> 16) & 0xFF)


def _png_bytes(img: Image.Image, texts: Mapping[str, str]) -> bytes:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)  # Pillow writes tEXt for latin-1, iTXt otherwise (like the webui)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info, compress_level=1)
    return buf.getvalue()


def _render_png(width: int, height: int, seed: int, infotext: str | None) -> bytes:
    top = _seed_colour(seed)
    bottom = _seed_colour(seed + 7919)
    # a two-tone vertical gradient, cheap to build and to compress
    column = Image.linear_gradient("L").resize((1, height))
    img = Image.composite(Image.new("RGB", (1, height), bottom), Image.new("RGB", (1, height), top), column)
    img = img.resize((width, height), Image.Resampling.NEAREST)
    return _png_bytes(img, {"parameters": infotext} if infotext else {})


@functools.lru_cache(maxsize=8)
def _noise_png(width: int, height: int, variant: int) -> bytes:
    data = random.Random(variant).randbytes(width * height * 3)
    return _png_bytes(Image.frombytes("RGB", (width, height), data), {})


def _png_text_chunk(key: str, text: str) -> bytes:
    """A tEXt chunk (iTXt when not latin-1), as Pillow's PngInfo.add_text writes it."""
    try:
        ctype, data = b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1")
    except UnicodeEncodeError:
        ctype, data = b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _render_noise_png(width: int, height: int, seed: int, infotext: str | None) -> bytes:
    """Random RGB noise: incompressible, so the PNG is about as large as the raw pixels (3 MB at 1024x1024),
    like the big, detailed images a real webui returns. For benchmarks (``image_style="noise"``): the pixels
    come from a small cache (4 variants per size) so that the fake itself costs next to no CPU; the
    ``parameters`` chunk is spliced in after IHDR, where Pillow puts it."""
    png = _noise_png(width, height, seed % 4)
    if not infotext:
        return png
    return png[:33] + _png_text_chunk("parameters", infotext) + png[33:]


_IMAGE_STYLES = {"gradient": _render_png, "noise": _render_noise_png}


def _grid(images: list[bytes], width: int, height: int, infotext: str) -> bytes:
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    grid = Image.new("RGB", (cols * width, rows * height))
    for i, data in enumerate(images):
        with Image.open(io.BytesIO(data)) as im:
            grid.paste(im.convert("RGB"), ((i % cols) * width, (i // cols) * height))
    return _png_bytes(grid, {"parameters": infotext})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_image_arg(value: Any) -> bytes:
    """Decode an image input like webui's decode_base64_to_image; raises _Reply(500) when it can't."""
    if not isinstance(value, str):
        raise ValueError("Invalid encoded image")
    if value.startswith(("http://", "https://")):
        raise ValueError("Request to local resource not allowed")
    if value.startswith("data:image/"):
        value = value.split(";")[1].split(",")[1] if ";" in value and "," in value else ""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Invalid encoded image") from exc
    if not data.startswith(_IMAGE_MAGIC):
        raise ValueError("Invalid encoded image")
    return data


_MISSING_BODY = {"loc": ["body"], "msg": "field required", "type": "value_error.missing"}
_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}


def _coerce(value: Any, typ: str | None) -> Any:
    """pydantic-1-like lax coercion (only reached with validate=False or for already valid values)."""
    if value is None or typ is None:
        return value
    try:
        if typ == "integer":
            return int(float(value)) if not isinstance(value, bool) else int(value)
        if typ == "number":
            return float(value)
        if typ == "boolean":
            if isinstance(value, str):
                low = value.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                return value
            return bool(value)
        if typ == "string":
            return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError):
        return value
    return value


def _ordinal(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _route_path(route: str) -> str:
    if route.startswith("/"):
        return route
    return f"/sdapi/v1/{route}"


# ---------------------------------------------------------------------------------------------------
# The fake


class FakeWebui:
    """See the module docstring. All public attributes are meant to be read (and some set) by tests."""

    def __init__(
        self,
        *,
        models: Iterable[str] = ("v1-5-pruned-emaonly", "sdxl_base"),
        samplers: Iterable[str] = SAMPLER_NAMES_1101,
        flavor: str = "a1111",
        auth: tuple[str, str] | None = None,
        api: bool = True,
        gen_seconds: float = 0.0,
        validate: bool = True,
        internal_progress: bool = True,
        hold: bool = False,
        loras: Iterable[str] = DEFAULT_LORAS,
        styles: Iterable[tuple[str, str, str]] = DEFAULT_STYLES,
        extra_scripts: Iterable[str] = (),
        lora_metadata: Mapping[str, Mapping[str, Any]] | None = None,
        embeddings: Iterable[str] = (),
        adetailer: bool = False,
        face_restorers: Iterable[str] = FACE_RESTORERS,
        version: str | None = None,
        shutdown_timeout: float = 0.25,
        image_style: str = "gradient",
        captions: Iterable[str] = (),
        encode_in_lock: bool = False,
    ) -> None:
        if flavor not in _FLAVORS:
            raise ValueError(f"flavor must be one of {_FLAVORS}")
        if image_style not in _IMAGE_STYLES:
            raise ValueError(f"image_style must be one of {tuple(_IMAGE_STYLES)}")
        # "gradient": small, cheap PNGs; "noise": incompressible PNGs about as large as the raw pixels
        self.image_style = image_style
        # True: encode each answer before releasing the generation lock (counted in ``spans``), as older versions
        # of this fake did; the webui itself encodes after releasing it.
        self.encode_in_lock = encode_in_lock
        self.flavor = flavor
        # SD.Next's caption routes served ("openclip", "tagger"); none by default, like an SD.Next without them
        self.captions: frozenset[str] = frozenset(captions)
        self.auth = auth
        self.api = api
        self.gen_seconds = gen_seconds
        self.validate = validate
        self.internal_progress = internal_progress
        self.version = version or _VERSIONS[flavor]
        self.models: list[_Model] = [_Model.make(m) for m in models]
        if not self.models:
            raise ValueError("at least one model")
        sampler_info = {s[0]: s for s in SAMPLERS_1101}
        self.samplers: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
            sampler_info.get(name, (name, (), {})) for name in samplers
        ]
        self.loras: list[str] = list(loras)
        self.styles: list[tuple[str, str, str]] = list(styles)
        self.extra_scripts: list[str] = list(extra_scripts)
        # LoRA name -> safetensors metadata beside the default (e.g. ss_tag_frequency, "activation text")
        self.lora_metadata: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (lora_metadata or {}).items()}
        self.embeddings: list[str] = list(embeddings)
        self.adetailer = adetailer  # the ADetailer extension is installed (script "ADetailer", /adetailer routes)
        self.face_restorers: list[str] = list(face_restorers)
        # what each generation did to faces: ("adetailer", model) / ("restore", name) / ("none", why)
        self.face_fixes: list[tuple[str, str]] = []
        self._shutdown_timeout = shutdown_timeout

        # recorded traffic
        self.requests: list[tuple[str, str, Any]] = []
        self.interrogations: list[dict[str, Any]] = []  # bodies of /sdapi/v1/interrogate (image tools)
        self.caption_calls: list[tuple[str, dict[str, Any]]] = []  # (route, body) of SD.Next's caption POSTs
        self.inpaint_sizes: list[tuple[tuple[int, int], tuple[int, int]]] = []  # (init, mask) sizes per inpaint
        self.generations: list[dict[str, Any]] = []
        self.options_posts: list[dict[str, Any]] = []
        self.validation_errors: list[str] = []
        self.responses: list[tuple[str, int]] = []  # (path, status) of every answer
        self.results: list[list[bytes]] = []  # PNG bytes produced by each generation (grid included)
        # timings (event loop time, i.e. time.monotonic(), comparable with the Discord fake's in one process):
        # (task id, started, finished) of each generation while it held the generation lock (the busy time)
        self.spans: list[tuple[str, float, float]] = []
        # (path, force_task_id or None, time) when each answer was handed to the HTTP server
        # (task id, generations completed by then) when each txt2img/img2img request arrived: a request that
        # arrives while another runs waits on the lock (prefetch)
        self.arrivals: list[tuple[str, int]] = []
        self.answer_times: list[tuple[str, str | None, float]] = []
        # counters / flags
        self.swaps = 0
        self.interrupted = False  # True once any interrupt arrived (sticky, for assertions)
        self.interrupts = 0
        self.skips = 0
        self.started_count = 0
        self.completed_count = 0
        self.generation_started = asyncio.Event()
        self.busy = False

        self._loaded: _Model = self.models[0]
        self.options: dict[str, Any] = self._default_options()
        self.state = _State()
        self._lock = asyncio.Lock()  # FIFO, like webui's queue_lock
        self._pending: dict[str, float] = {}
        self._current_task: str | None = None
        self._finished: deque[str] = deque(maxlen=16)

        self._held = hold
        self._permits = 0
        self._fail: dict[str, deque[tuple[int, Any]]] = {}
        self._hang: dict[str, int] = {}
        self._faults: dict[str, deque[Callable[[web.Request, web.Response], Any]]] = {}  # see trickle_next
        self._hang_released = 0  # generation counter for release_hung
        self.hung = 0  # requests currently hanging
        self._stopping = False
        self._tick = asyncio.Event()

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port = 0
        self._routes = self._route_table()

    # ---- lifecycle ------------------------------------------------------------------------------

    def serve_captions(self, *routes: str) -> None:
        """From now on serve (only) these SD.Next caption routes: "openclip", "tagger"."""
        if not set(routes) <= {"openclip", "tagger"}:
            raise ValueError(f"unknown caption routes {routes}")
        self.captions = frozenset(routes)
        self._routes = self._route_table()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        self._stopping = False
        await self._listen(0)

    async def _listen(self, port: int) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        self._runner, self._site = runner, site
        addr = runner.addresses[0]
        self._port = int(addr[1])

    async def stop(self) -> None:
        """Release every held/hung request and close the server."""
        self._stopping = True
        self._notify()
        await self._close()

    async def _close(self) -> None:
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def down(self) -> None:
        """The webui dies: the listener closes and open connections are dropped (requests in flight fail)."""
        await self._close()

    async def up(self) -> None:
        """The webui comes back on the same port."""
        if self._runner is None:
            await self._listen(self._port)

    async def __aenter__(self) -> FakeWebui:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test controls --------------------------------------------------------------------------

    def fail_next(self, route: str, status: int, body: Any = None, times: int = 1) -> None:
        """The next ``times`` requests to ``route`` ("txt2img" or "/sdapi/v1/txt2img") answer ``status``.
        ``body`` defaults to the flavour's natural shape for that status; a str/bytes body is sent as is."""
        q = self._fail.setdefault(_route_path(route), deque())
        for _ in range(times):
            q.append((status, body))

    def hang_next(self, route: str, times: int = 1) -> None:
        """The next ``times`` requests to ``route`` get no answer until ``release_hung()`` or ``stop()``."""
        path = _route_path(route)
        self._hang[path] = self._hang.get(path, 0) + times

    def release_hung(self) -> None:
        """Let hanging requests proceed (they are then answered normally)."""
        self._hang_released += 1
        self._notify()

    def hold(self) -> None:
        """Generations that start from now on stop at step 1 until ``release()`` (or an interrupt)."""
        self._held = True
        self._notify()

    def release(self, n: int | None = None) -> None:
        """``release()`` opens the gate for good; ``release(n)`` lets ``n`` held generations finish."""
        if n is None:
            self._held = False
        else:
            self._permits += n
        self._notify()

    # ---- fault injection: broken answers (applied after the route ran normally) ------------------

    def trickle_next(self, route: str, *, chunk: int = 1, interval: float = 0.05, times: int = 1) -> None:
        """The next ``times`` answers on ``route`` are sent ``chunk`` bytes every ``interval`` seconds
        (uncompressed, with a Content-Length), like a webui behind a choking link. Ends early on ``stop()``."""

        async def fault(request: web.Request, response: web.Response) -> web.StreamResponse:
            body = bytes(response.body or b"")  # type: ignore[arg-type]
            out = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
            out.content_length = len(body)
            await out.prepare(request)
            try:
                for start in range(0, len(body), chunk):
                    if self._stopping:
                        break
                    await out.write(body[start : start + chunk])
                    await asyncio.sleep(interval)  # the pace of the fault itself, not a wait for state
                else:
                    await out.write_eof()
            except ConnectionError:  # the client gave up and hung up
                pass
            return out

        self._add_fault(route, fault, times)

    def garbage_next(self, route: str, kind: str = "html", *, times: int = 1) -> None:
        """The next ``times`` answers on ``route`` are 200 with a broken body. ``kind``:
        "html" (an HTML page), "truncated" (JSON cut in half), "not-image" (generation JSON whose image is
        base64 of non-image bytes), "info-not-json" (``info`` is not JSON), "infotexts-not-list"
        (``info.infotexts`` is an object)."""
        kinds = ("html", "truncated", "not-image", "info-not-json", "infotexts-not-list")
        if kind not in kinds:
            raise ValueError(f"kind must be one of {kinds}")

        async def fault(request: web.Request, response: web.Response) -> web.Response:
            png = _b64(_render_png(8, 8, 1, None))
            info: Any = json.dumps({"seed": 1, "all_seeds": [1], "infotexts": ["a cat\nSteps: 1, Seed: 1"]})
            images = [png]
            if kind == "html":
                return web.Response(status=200, text="<html><body>Bad Gateway</body></html>", content_type="text/html")
            if kind == "truncated":
                data = json.dumps({"images": [png], "parameters": {}, "info": info}).encode()
                return web.Response(status=200, body=data[: len(data) // 2], content_type="application/json")
            if kind == "not-image":
                images = [_b64(b"<html>this is not an image</html>" * 4)]
            elif kind == "info-not-json":
                info = "{seed: 1, all_seeds: [1"
            else:
                info = json.dumps({"seed": 1, "all_seeds": [1], "infotexts": {"0": "a cat"}})
            body = {"images": images, "parameters": {}, "info": info}
            return web.Response(status=200, body=json.dumps(body).encode(), content_type="application/json")

        self._add_fault(route, fault, times)

    def oversize_next(self, route: str, size: int, *, declare_length: bool = True, times: int = 1) -> None:
        """The next ``times`` answers on ``route`` are a 200 JSON body of ``size`` bytes (one huge base64
        "image"). ``declare_length=False`` streams it chunked, without a Content-Length."""

        async def fault(request: web.Request, response: web.Response) -> web.StreamResponse:
            head, tail = b'{"images": ["', b'"], "info": "{}"}'
            filler = b"A" * max(0, size - len(head) - len(tail))
            out = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            if declare_length:
                out.content_length = len(head) + len(filler) + len(tail)
            else:
                out.enable_chunked_encoding()
            await out.prepare(request)
            try:
                await out.write(head)
                for start in range(0, len(filler), 256 * 1024):
                    await out.write(filler[start : start + 256 * 1024])
                await out.write(tail)
                await out.write_eof()
            except ConnectionError:  # the client stopped reading and hung up
                pass
            return out

        self._add_fault(route, fault, times)

    def _add_fault(self, route: str, fault: Callable[[web.Request, web.Response], Any], times: int) -> None:
        q = self._faults.setdefault(_route_path(route), deque())
        q.extend([fault] * times)

    @property
    def loaded_model(self) -> str:
        """``model_name`` of the checkpoint currently in memory."""
        return self._loaded.model_name

    @loaded_model.setter
    def loaded_model(self, value: str) -> None:
        model = self._find_model(value)
        if model is None:
            raise ValueError(f"unknown model {value!r}")
        self._loaded = model
        self.options["sd_model_checkpoint"] = model.title
        self.options["sd_checkpoint_hash"] = model.sha256

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds (re-checked whenever the fake's state changes)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                tick = self._tick
                await tick.wait()

    async def wait_generation_started(self, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``count`` generations have started in total (since the fake was created)."""
        await self.wait_for(lambda: self.started_count >= count, timeout)

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: not self.busy and not self._pending, timeout)

    def _notify(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            tick = self._tick
            await tick.wait()

    # ---- options & models -----------------------------------------------------------------------

    def _default_options(self) -> dict[str, Any]:
        options = self._base_options()
        if self.flavor == "forge":  # Forge chooses VAE / text encoders as modules: there is no sd_vae setting
            del options["sd_vae"]
        else:
            del options["forge_additional_modules"]
        return options

    def _base_options(self) -> dict[str, Any]:
        return {
            "samples_save": True,
            "samples_format": "png",
            "save_images_add_number": True,
            "grid_save": True,
            "return_grid": True,
            "enable_pnginfo": True,
            "sd_model_checkpoint": self._loaded.title,
            "sd_checkpoint_hash": self._loaded.sha256,
            "sd_checkpoints_limit": 1.0,
            "sd_vae": "Automatic",
            "CLIP_stop_at_last_layers": 1.0,
            "face_restoration": False,
            "face_restoration_model": "CodeFormer",
            "tiling": False,
            "eta_noise_seed_delta": 0,
            "img2img_fix_steps": False,
            "live_previews_enable": True,
            "show_progress_every_n_steps": 10.0,
            "live_previews_image_format": "png",
            "api_enable_requests": True,
            "api_forbid_local_requests": True,
            "sd_lora": "None",
            "forge_additional_modules": [],
        }

    def _find_model(self, name: str) -> _Model | None:
        for model in self.models:
            if name in model.aliases():
                return model
        return None

    # ---- HTTP plumbing --------------------------------------------------------------------------

    def _route_table(self) -> dict[str, dict[str, Callable[[web.Request, Any], Any]]]:
        r: dict[str, dict[str, Callable[[web.Request, Any], Any]]] = {
            "/sdapi/v1/txt2img": {"POST": self._h_txt2img},
            "/sdapi/v1/img2img": {"POST": self._h_img2img},
            "/sdapi/v1/progress": {"GET": self._h_progress},
            "/sdapi/v1/interrupt": {"POST": self._h_interrupt},
            "/sdapi/v1/skip": {"POST": self._h_skip},
            "/sdapi/v1/options": {"GET": self._h_get_options, "POST": self._h_set_options},
            "/sdapi/v1/sd-models": {"GET": self._h_sd_models},
            "/sdapi/v1/refresh-checkpoints": {"POST": self._h_null_locked},
            "/sdapi/v1/samplers": {"GET": self._h_samplers},
            "/sdapi/v1/schedulers": {"GET": self._h_schedulers},
            "/sdapi/v1/upscalers": {"GET": self._h_upscalers},
            "/sdapi/v1/prompt-styles": {"GET": self._h_styles},
            "/sdapi/v1/loras": {"GET": self._h_loras},
            "/sdapi/v1/refresh-loras": {"POST": self._h_null},
            "/sdapi/v1/embeddings": {"GET": self._h_embeddings},
            "/sdapi/v1/scripts": {"GET": self._h_scripts},
            "/sdapi/v1/face-restorers": {"GET": self._h_face_restorers},
            "/sdapi/v1/png-info": {"POST": self._h_png_info},
            "/sdapi/v1/extra-single-image": {"POST": self._h_extra_single},
            "/sdapi/v1/memory": {"GET": self._h_memory},
        }
        if self.adetailer:
            r["/adetailer/v1/version"] = {"GET": self._h_ad_version}
            r["/adetailer/v1/schema"] = {"GET": self._h_ad_schema}
            r["/adetailer/v1/ad_model"] = {"GET": self._h_ad_model}
        if self.flavor != "sdnext":
            r["/sdapi/v1/latent-upscale-modes"] = {"GET": self._h_latent_modes}
        if self.flavor == "forge":
            r["/sdapi/v1/sd-modules"] = {"GET": self._h_sd_vae}
        else:
            r["/sdapi/v1/sd-vae"] = {"GET": self._h_sd_vae}
        if self.flavor == "sdnext":
            r["/sdapi/v1/version"] = {"GET": self._h_version}
            if "openclip" in self.captions:
                r["/sdapi/v1/openclip"] = {"GET": self._h_openclip_models, "POST": self._h_openclip}
            if "tagger" in self.captions:
                r["/sdapi/v1/tagger"] = {"POST": self._h_tagger}
                r["/sdapi/v1/tagger/models"] = {"GET": self._h_tagger_models}
        else:  # SD.Next's API has no interrogator on this route (docs/tools.md)
            r["/sdapi/v1/interrogate"] = {"POST": self._h_interrogate}
        if self.internal_progress and self.flavor != "sdnext":
            r["/internal/progress"] = {"POST": self._h_internal_progress}
            r["/internal/pending-tasks"] = {"GET": self._h_pending_tasks}
        return r

    def _webui_error(self, status: int, detail: str) -> _Reply:
        """A deliberate error (HTTPException) in the flavour's shape."""
        if self.flavor == "forge":
            return _Reply(status, {"detail": detail})
        body: dict[str, Any] = {"error": "HTTPException", "detail": detail, "body": "", "errors": ""}
        if self.flavor == "sdnext":
            body = {"error": "HTTPException", "code": status, "detail": detail, "body": "", "errors": ""}
        return _Reply(status, body)

    def _exception_error(self, exc_name: str, text: str, status: int = 500) -> _Reply:
        """An unhandled exception in the flavour's shape."""
        if self.flavor == "forge":
            return _Reply(status, {"error": exc_name, "detail": "", "body": "", "message": text})
        if self.flavor == "sdnext":
            return _Reply(status, {"error": exc_name, "code": status, "detail": "", "body": "", "errors": text})
        return _Reply(status, {"error": exc_name, "detail": "", "body": "", "errors": text})

    def _default_fail_body(self, status: int) -> Any:
        if status == 422:
            return {"detail": [{"loc": ["body", "steps"], "msg": "value is not a valid integer", "type": "x"}]}
        if status == 404:
            return {"detail": "Not Found"}
        if status in (401, 403):
            return self._webui_error(status, "Incorrect username or password").body
        if status >= 500:
            return self._exception_error("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB").body
        return self._webui_error(status, "Fake failure").body

    def _check_auth(self, request: web.Request, path: str) -> None:
        if self.auth is None:
            return
        if self.flavor != "sdnext":
            if not path.startswith("/sdapi/") or path in ("/sdapi/v1/loras", "/sdapi/v1/refresh-loras"):
                return
        header = request.headers.get("Authorization")
        detail: str | None = None
        if not header or not header.lower().startswith("basic "):
            detail = "Not authenticated"
        else:
            try:
                user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
                if not sep:
                    raise ValueError("no colon")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                detail = "Invalid authentication credentials"
            else:
                if (user, password) != self.auth:
                    detail = "Incorrect username or password"
        if detail is None:
            return
        if self.flavor == "sdnext":
            raise self._webui_error(401, "Unauthorized")
        reply = self._webui_error(401, detail)
        if self.flavor == "forge":
            reply.headers["WWW-Authenticate"] = "Basic"
        raise reply

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        path = request.path
        method = request.method
        raw = await request.read()
        payload: Any = None
        json_error: str | None = None
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError as exc:
                json_error = str(exc)
                payload = raw.decode("utf-8", errors="replace")
        self.requests.append((method, path, payload))
        self._notify()
        try:
            if self._hang.get(path, 0) > 0:
                self._hang[path] -= 1
                self.hung += 1
                self._notify()
                generation = self._hang_released
                try:
                    await self._until(lambda: self._stopping or self._hang_released != generation)
                finally:
                    self.hung -= 1
                if self._stopping:
                    raise _Reply(503, {"detail": "stopping"})
            fail_q = self._fail.get(path)
            if fail_q:
                status, body = fail_q.popleft()
                raise _Reply(status, self._default_fail_body(status) if body is None else body)
            if path.startswith("/sdapi/") and not self.api and self.flavor != "sdnext":
                raise _Reply(404, {"detail": "Not Found"})
            handlers = self._routes.get(path)
            if handlers is None:
                raise _Reply(404, {"detail": "Not Found"})
            handler = handlers.get(method)
            if handler is None:
                raise _Reply(405, {"detail": "Method Not Allowed"})
            self._check_auth(request, path)
            if json_error is not None:
                raise _Reply(
                    422,
                    {"detail": [{"loc": ["body", 0], "msg": json_error, "type": "value_error.jsondecode"}]},
                )
            result = await handler(request, payload)
            if isinstance(result, web.StreamResponse):
                response = result
            else:
                response = self._json_response(200, result)
        except _Reply as reply:
            response = self._json_response(reply.status, reply.body, headers=reply.headers)
        except Exception as exc:  # a bug in the fake: answer like webui's catch-all, and say so in the log
            log.exception("fake webui: %s %s failed", method, path)
            err = self._exception_error(type(exc).__name__, str(exc))
            response = self._json_response(err.status, err.body)
        if not (response.status >= 500 and self.flavor == "a1111"):
            response.headers["X-Process-Time"] = f"{time.monotonic() - started:.4f}"
        faults = self._faults.get(path)
        if faults and isinstance(response, web.Response):
            response = await faults.popleft()(request, response)
        self.responses.append((path, response.status))
        task = payload.get("force_task_id") if isinstance(payload, dict) else None
        self.answer_times.append((path, task if isinstance(task, str) else None, asyncio.get_running_loop().time()))
        self._notify()
        return response

    def _json_response(
        self, status: int, body: Any, *, headers: Mapping[str, str] | None = None, compress: bool = True
    ) -> web.Response:
        if status == 204:
            return web.Response(status=204, headers=headers)
        if isinstance(body, bytes):
            data = body
            ctype = "text/plain"
        elif isinstance(body, str):
            data = body.encode()
            ctype = "text/html" if body.lstrip().startswith("<") else "text/plain"
        else:
            data = json.dumps(body).encode()
            ctype = "application/json"
        resp = web.Response(status=status, body=data, content_type=ctype, headers=headers)
        if compress and len(data) > 1000:
            resp.enable_compression()
        return resp

    # ---- simple routes --------------------------------------------------------------------------

    async def _h_null(self, request: web.Request, payload: Any) -> Any:
        return web.Response(status=204) if self.flavor == "sdnext" else None

    async def _h_null_locked(self, request: web.Request, payload: Any) -> Any:
        async with self._lock:
            pass
        return await self._h_null(request, payload)

    async def _h_sd_models(self, request: web.Request, payload: Any) -> Any:
        out = []
        for m in self.models:
            item: dict[str, Any] = {
                "title": m.title,
                "model_name": m.model_name,
                "hash": m.hash,
                "sha256": m.sha256,
                "filename": m.filename,
                "config": None,
            }
            if self.flavor == "sdnext":
                item["type"] = "safetensors"
            out.append(item)
        return out

    async def _h_samplers(self, request: web.Request, payload: Any) -> Any:
        if self.flavor == "sdnext":
            return [{"name": name, "options": options} for name, _aliases, options in self.samplers]
        return [
            {"name": name, "aliases": list(aliases), "options": options} for name, aliases, options in self.samplers
        ]

    async def _h_schedulers(self, request: web.Request, payload: Any) -> Any:
        if self.flavor == "sdnext":
            return [
                {"name": label, "cls": f"{label.replace(' ', '')}Scheduler", "options": {}}
                for _n, label, *_ in SCHEDULERS_1101[1:]
            ]
        return [
            {"name": n, "label": label, "aliases": aliases, "default_rho": rho, "need_inner_model": inner}
            for n, label, aliases, rho, inner in SCHEDULERS_1101
        ]

    async def _h_upscalers(self, request: web.Request, payload: Any) -> Any:
        return [
            {
                "name": name,
                "model_name": None if name in ("None", "Lanczos", "Nearest") else name,
                "model_path": None if name in ("None", "Lanczos", "Nearest") else f"/models/{name}.pth",
                "model_url": None,
                "scale": scale,
            }
            for name, scale in UPSCALERS
        ]

    async def _h_latent_modes(self, request: web.Request, payload: Any) -> Any:
        return [{"name": n} for n in LATENT_UPSCALE_MODES]

    async def _h_styles(self, request: web.Request, payload: Any) -> Any:
        return [{"name": n, "prompt": p, "negative_prompt": neg} for n, p, neg in self.styles]

    async def _h_loras(self, request: web.Request, payload: Any) -> Any:
        out = []
        for n in self.loras:
            meta = {"ss_output_name": n, "ss_base_model_version": "sd_v1", **self.lora_metadata.get(n, {})}
            # the alias is the metadata's ss_output_name, or the name
            out.append(
                {
                    "name": n,
                    "alias": str(meta["ss_output_name"]),
                    "path": f"/models/Lora/{n}.safetensors",
                    "metadata": meta,
                }
            )
        return out

    async def _h_embeddings(self, request: web.Request, payload: Any) -> Any:
        if self.flavor == "sdnext":
            return {"loaded": list(self.embeddings), "skipped": []}
        item = {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None, "shape": 768, "vectors": 1}
        return {"loaded": {n: dict(item) for n in self.embeddings}, "skipped": {}}

    def _alwayson(self, kind: str) -> list[str]:
        return [*_ALWAYSON_SCRIPTS[kind], *self.extra_scripts, *(["ADetailer"] if self.adetailer else [])]

    async def _h_scripts(self, request: web.Request, payload: Any) -> Any:
        # script titles, lowercased as the webui lists them
        return {
            kind: [t.lower() for t in (*_SELECTABLE_SCRIPTS[kind], *self._alwayson(kind))] for kind in _SCHEMA_NAMES
        }

    async def _h_face_restorers(self, request: web.Request, payload: Any) -> Any:
        if self.flavor == "sdnext":
            return [{"name": n, "path": f"/models/{n}"} for n in self.face_restorers]
        return [{"name": n, "cmd_dir": f"/models/{n}"} for n in self.face_restorers]

    async def _h_ad_version(self, request: web.Request, payload: Any) -> Any:
        return {"version": AD_VERSION}

    async def _h_ad_model(self, request: web.Request, payload: Any) -> Any:
        return {"ad_model": list(AD_MODELS)}

    async def _h_ad_schema(self, request: web.Request, payload: Any) -> Any:
        return {
            "title": "ADetailerArgs",
            "type": "object",
            "properties": {
                "ad_model": {"title": "Ad Model", "default": "None", "type": "string"},
                "ad_prompt": {"title": "Ad Prompt", "default": "", "type": "string"},
                "ad_confidence": {"title": "Ad Confidence", "default": 0.3, "type": "number"},
                "ad_denoising_strength": {"title": "Ad Denoising Strength", "default": 0.4, "type": "number"},
            },
        }

    def _adetailer_params(self, kind: str, p: dict[str, Any]) -> dict[str, Any]:
        """What ADetailer does with the job's ``alwayson_scripts`` args, as infotext entries ({} = it didn't run).

        A1111 accepts the args as ADetailer documents them: unit dicts, optionally after the enable and skip-img2img
        flags. Forge hands script args over by position: without the two flags first, the script does not run (no
        error, no face fix)."""
        scripts = p.get("alwayson_scripts") or {}
        entry = next((v for k, v in scripts.items() if str(k).lower() == "adetailer"), None)
        if entry is None:
            return {}
        args = entry.get("args") if isinstance(entry, dict) else None
        if not isinstance(args, list) or not args:
            self.face_fixes.append(("none", "adetailer: no args"))
            return {}
        flags = [a for a in args[:2] if isinstance(a, bool)]
        if self.flavor == "forge" and len(flags) < 2:
            self.face_fixes.append(("none", "adetailer: forge needs [enable, skip_img2img, unit...]"))
            return {}
        if flags and not flags[0]:
            self.face_fixes.append(("none", "adetailer: disabled"))
            return {}
        if len(flags) == 2 and flags[1] and kind == "img2img":
            self.face_fixes.append(("none", "adetailer: skip img2img"))
            return {}
        units = [a for a in args[len(flags) :] if isinstance(a, dict)]
        out: dict[str, Any] = {}
        for i, unit in enumerate(units):
            model = unit.get("ad_model", "None")
            if model == "None":
                continue
            if model not in AD_MODELS:
                raise self._exception_error("ValueError", f"[-] ADetailer: Invalid model {model!r}")
            suffix = "" if i == 0 else f" {_ordinal(i + 1)}"
            out[f"ADetailer model{suffix}"] = model
            out[f"ADetailer confidence{suffix}"] = float(unit.get("ad_confidence", 0.3))
            out[f"ADetailer dilate erode{suffix}"] = 4
            out[f"ADetailer mask blur{suffix}"] = 4
            out[f"ADetailer denoising strength{suffix}"] = float(unit.get("ad_denoising_strength", 0.4))
            out[f"ADetailer inpaint only masked{suffix}"] = True
            out[f"ADetailer inpaint padding{suffix}"] = 32
            self.face_fixes.append(("adetailer", model))
        if out:
            out["ADetailer version"] = AD_VERSION
        return out

    async def _h_sd_vae(self, request: web.Request, payload: Any) -> Any:
        return [{"model_name": "vae-ft-mse-840000", "filename": "/models/VAE/vae-ft-mse-840000.safetensors"}]

    async def _h_version(self, request: web.Request, payload: Any) -> Any:
        return {
            "app": "sd.next",
            "updated": "2025-06-01",
            "commit": self.version,
            "branch": "master",
            "url": "https://github.com/vladmandic/sdnext",
        }

    async def _h_memory(self, request: web.Request, payload: Any) -> Any:
        return {"ram": {"free": 1.0, "used": 1.0, "total": 2.0}, "cuda": {"error": "unavailable"}}

    async def _h_get_options(self, request: web.Request, payload: Any) -> Any:
        return dict(self.options)

    async def _h_set_options(self, request: web.Request, payload: Any) -> Any:
        self.options_posts.append(payload if isinstance(payload, dict) else {"<body>": payload})
        if not isinstance(payload, dict):
            raise _Reply(422, {"detail": [_MISSING_BODY]})
        if "sd_model_checkpoint" in payload:
            wanted = payload["sd_model_checkpoint"]
            model = self._find_model(str(wanted))
            if model is None and self.flavor != "sdnext":
                raise self._exception_error("RuntimeError", f"model {wanted!r} not found")
            if model is not None:
                async with self._lock:  # a checkpoint change waits for the queue lock
                    if model != self._loaded:
                        self.swaps += 1
                        self._loaded = model
                    self.options["sd_model_checkpoint"] = model.title
                    self.options["sd_checkpoint_hash"] = model.sha256
        updated = []
        for key, value in payload.items():
            if key == "sd_model_checkpoint":
                updated.append({key: True})
                continue
            if key not in self.options:
                if self.flavor == "sdnext":
                    updated.append({key: False})
                    continue
                raise self._exception_error("KeyError", repr(key))
            self.options[key] = value
            updated.append({key: True})
        self._notify()
        return {"updated": updated} if self.flavor == "sdnext" else None

    async def _h_interrupt(self, request: web.Request, payload: Any) -> Any:
        self.interrupts += 1
        self.interrupted = True
        self.state.interrupted = True
        self._notify()
        return web.Response(status=204) if self.flavor == "sdnext" else {}

    async def _h_skip(self, request: web.Request, payload: Any) -> Any:
        self.skips += 1
        self.state.skipped = True
        self._notify()
        return web.Response(status=204) if self.flavor == "sdnext" else None

    # ---- progress -------------------------------------------------------------------------------

    def _progress_values(self) -> tuple[float, float]:
        st = self.state
        if st.job_count <= 0:
            return 0.0, 0.0
        progress = 0.01 + st.job_no / st.job_count
        if st.sampling_steps > 0:
            progress += (st.sampling_step / st.sampling_steps) / st.job_count
        progress = min(progress, 1.0)
        elapsed = time.monotonic() - st.time_start
        eta = elapsed / progress - elapsed if progress > 0 else 0.0
        return progress, eta

    def _preview_png(self) -> bytes:
        seed = self.state.preview_seed
        return _png_bytes(Image.new("RGB", (16, 16), _seed_colour(seed)), {})

    async def _h_progress(self, request: web.Request, payload: Any) -> Any:
        skip = request.query.get("skip_current_image", "false").strip().lower() in _TRUE
        st = self.state
        busy = st.job_count > 0
        progress, eta = self._progress_values()
        preview = None
        if busy and not skip and st.sampling_step > 0 and self.options.get("live_previews_enable", True):
            preview = _b64(self._preview_png())
        out: dict[str, Any] = {
            "progress": round(progress, 2) if self.flavor == "sdnext" else progress,
            "eta_relative": round(eta, 2) if self.flavor == "sdnext" else eta,
            "state": st.as_dict(),
            "current_image": preview,
            "textinfo": st.textinfo,
        }
        if self.flavor == "sdnext":
            out["state"].pop("stopping_generation", None)
            out["id"] = self._current_task
        return out

    async def _h_internal_progress(self, request: web.Request, payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise _Reply(422, {"detail": [_MISSING_BODY]})
        task = str(payload.get("id_task", ""))
        want_preview = bool(payload.get("live_preview", True))
        id_live_preview = int(payload.get("id_live_preview", -1) or -1)
        active = task == self._current_task
        queued = task in self._pending
        completed = task in self._finished
        base: dict[str, Any] = {
            "active": active,
            "queued": queued,
            "completed": completed,
            "progress": None,
            "eta": None,
            "live_preview": None,
            "id_live_preview": -1,
            "textinfo": None,
        }
        if not active:
            textinfo = "Waiting..."
            if queued:
                order = sorted(self._pending, key=lambda t: self._pending[t])
                textinfo = f"In queue: {order.index(task) + 1}/{len(order)}"
            base["textinfo"] = textinfo
            return base
        progress, eta = self._progress_values()
        st = self.state
        base["progress"] = progress - 0.01 if st.job_count > 0 else 0.0
        base["eta"] = eta if progress > 0 else None
        base["id_live_preview"] = id_live_preview
        current_id = st.job_no * 1000 + st.sampling_step // 10 + 1
        if want_preview and st.sampling_step > 0 and current_id != id_live_preview:
            base["live_preview"] = "data:image/png;base64," + _b64(self._preview_png())
            base["id_live_preview"] = current_id
        base["textinfo"] = st.textinfo
        return base

    async def _h_pending_tasks(self, request: web.Request, payload: Any) -> Any:
        return {"size": len(self._pending), "tasks": sorted(self._pending, key=lambda t: self._pending[t])}

    # ---- png-info & extras ----------------------------------------------------------------------

    def _require_body(self, payload: Any) -> dict[str, Any]:
        if payload is None:
            raise _Reply(422, {"detail": [_MISSING_BODY]})
        if not isinstance(payload, dict):
            raise _Reply(
                422, {"detail": [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]}
            )
        return payload

    def _decode_or_500(self, value: Any) -> bytes:
        try:
            return _decode_image_arg(value)
        except ValueError as exc:
            raise self._webui_error(500, str(exc)) from exc

    async def _h_png_info(self, request: web.Request, payload: Any) -> Any:
        body = self._require_body(payload)
        if not body.get("image"):
            raise self._webui_error(404, "Image not found")
        data = self._decode_or_500(body["image"])
        texts = read_png_text(data)
        info = texts.pop("parameters", "")
        parameters: dict[str, Any] = {}
        if info:
            it = parse_infotext(info)
            parameters = {"Prompt": it.prompt, "Negative prompt": it.negative_prompt}
            parameters.update({k: v for k, v in it.params.items() if k != "Size"})
            parameters.setdefault("Clip skip", "1")
            parameters.setdefault("Schedule type", "Automatic")
            parameters.setdefault("RNG", "GPU")
        return {"info": info, "items": texts, "parameters": parameters}

    async def _h_extra_single(self, request: web.Request, payload: Any) -> Any:
        body = self._require_body(payload)
        data = self._decode_or_500(body.get("image", ""))
        upscaler = str(body.get("upscaler_1", "None"))
        names = {u[0] for u in UPSCALERS}
        if upscaler not in names:
            raise self._exception_error("Exception", f"could not find upscaler named {upscaler}")
        faces = self._check_extras(body)
        mode = int(body.get("resize_mode", 0) or 0)
        factor = float(body.get("upscaling_resize", 2) or 2)
        target = (int(body.get("upscaling_resize_w", 512)), int(body.get("upscaling_resize_h", 512)))

        def work() -> bytes:
            texts = read_png_text(data)
            with Image.open(io.BytesIO(data)) as im:
                src = im.convert("RGB")
            size = target if mode == 1 else (max(1, round(src.width * factor)), max(1, round(src.height * factor)))
            out = src.resize(size, Image.Resampling.NEAREST)
            post = f"Postprocess upscale by: {factor:g}, Postprocess upscaler: {upscaler}"
            if mode == 1:
                post = f"Postprocess upscale to: {size[0]}x{size[1]}, Postprocess upscaler: {upscaler}"
            keep = {k: v for k, v in texts.items() if k == "parameters"}
            keep["postprocessing"] = post + "".join(faces)
            return _png_bytes(out, keep)

        async with self._lock:
            try:
                png = await asyncio.to_thread(work)
            except OSError as exc:
                raise self._webui_error(500, "Invalid encoded image") from exc
        html = f"<p>Postprocess upscale by: {factor:g}, Postprocess upscaler: {upscaler}</p>"
        return {"html_info": html, "image": _b64(png)}

    # ---- generation -----------------------------------------------------------------------------

    async def _h_txt2img(self, request: web.Request, payload: Any) -> Any:
        return await self._generate("txt2img", payload)

    async def _h_img2img(self, request: web.Request, payload: Any) -> Any:
        return await self._generate("img2img", payload)

    def _normalise(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in and values coerced, like the pydantic model would (unknown keys dropped)."""
        _validator, props = _validators()[kind]
        p: dict[str, Any] = {}
        for key, prop in props.items():
            default = copy.deepcopy(prop.get("default"))
            value = payload.get(key, default)
            if value is None:
                value = default
            p[key] = _coerce(value, prop.get("type"))
        if self.flavor == "sdnext":
            for key, value in (("steps", 20), ("cfg_scale", 6.0), ("width", 1024), ("height", 1024)):
                if payload.get(key) is None:
                    p[key] = value
            if kind == "img2img" and payload.get("denoising_strength") is None:
                p["denoising_strength"] = 0.5
        if self.flavor == "sdnext":  # no such fields there: a sent value is ignored like any unknown key
            p.pop("scheduler", None)
            p.pop("force_task_id", None)
        if self.flavor == "forge":
            for key in ("distilled_cfg_scale", "hr_distilled_cfg", "hr_cfg"):  # Forge's own fields
                if payload.get(key) is not None:
                    p[key] = payload[key]
        p["styles"] = list(p.get("styles") or [])
        p["override_settings"] = dict(p.get("override_settings") or {})
        if self.flavor == "forge":  # Forge's own request field (Flux), not in the A1111 schema
            p["distilled_cfg_scale"] = float(payload.get("distilled_cfg_scale") or 3.5)
            p["distilled_cfg_given"] = payload.get("distilled_cfg_scale") is not None
        return p

    def _resolve_sampler(self, p: dict[str, Any]) -> tuple[str, str]:
        """webui 1.10 resolution (docs/webui.md): suffix scheduler, exact names, unknown → DPM++ 2M."""
        names = [s[0] for s in self.samplers]
        name = p.get("sampler_name") or p.get("sampler_index") or "Euler"
        scheduler_label = "Automatic"
        requested = p.get("scheduler")
        if isinstance(requested, str):
            for sname, label, aliases, *_ in SCHEDULERS_1101:
                if requested in (sname, label, *(aliases or [])):
                    scheduler_label = label
        if self.flavor == "sdnext":
            if name == "Default":
                return "Default", scheduler_label
            match = next((n for n in names if n.lower() == str(name).lower()), None)
            if match is None:
                raise self._webui_error(404, "Sampler not found")
            return match, scheduler_label
        if name not in names:
            for sname, label, aliases, *_ in SCHEDULERS_1101:
                for option in (label, sname, *(aliases or [])):
                    if name.endswith(" " + option) and name[: -len(option) - 1] in names:
                        return name[: -len(option) - 1], label
            return (names[0] if names else "DPM++ 2M"), scheduler_label
        return name, scheduler_label

    def _check_scripts(self, kind: str, p: dict[str, Any]) -> None:
        selectable = {s.lower() for s in _SELECTABLE_SCRIPTS[kind]}
        alwayson = {s.lower() for s in self._alwayson(kind)}
        script = p.get("script_name")
        if script and str(script).lower() not in selectable:
            raise self._webui_error(422, f"Script '{script}' not found")
        for key in p.get("alwayson_scripts") or {}:
            low = str(key).lower()
            if low in selectable:
                raise self._webui_error(422, "Cannot have a selectable script in the always on scripts params")
            if low not in alwayson:
                raise self._webui_error(422, f"Script '{key}' not found")

    async def _generate(self, kind: str, payload: Any) -> Any:
        body = self._require_body(payload)
        self.generations.append(body)
        self._notify()
        if self.validate:
            details = validation_details(kind, body)
            if self.flavor == "forge":
                details += _forge_field_errors(body)
            if details:
                self.validation_errors.extend(validate_payload(kind, body))
                if self.flavor != "a1111":  # pydantic 2: {type, loc, msg, input}
                    details = [_pydantic2_item(d, body) for d in details]
                raise _Reply(422, {"detail": details})
        p = self._normalise(kind, body)
        if kind == "img2img":
            inits = p.get("init_images")
            if not inits:
                raise self._webui_error(404, "Init image not found")
            for value in inits:
                self._decode_or_500(value)
            if p.get("mask"):
                self._decode_or_500(p["mask"])
                self._check_inpaint(p)
        self._check_scripts(kind, p)
        sampler, scheduler = self._resolve_sampler(p)
        task_id = p.get("force_task_id") or f"task({kind}-{''.join(random.choices(string.ascii_lowercase, k=7))})"
        self._pending[task_id] = time.monotonic()
        self.arrivals.append((task_id, self.completed_count))
        self._notify()
        try:
            async with self._lock:
                self._pending.pop(task_id, None)
                self._current_task = task_id
                self.busy = True
                began = asyncio.get_running_loop().time()
                try:
                    answer = await self._run(kind, p, sampler, scheduler, task_id)
                    body = await asyncio.to_thread(answer) if self.encode_in_lock else None
                finally:
                    self.spans.append((task_id, began, asyncio.get_running_loop().time()))
                    self._current_task = None
                    self._finished.append(task_id)
                    self.busy = False
                    self.state = _State(interrupted=self.state.interrupted, skipped=self.state.skipped)
                    self.completed_count += 1
                    self._notify()
            # Like the webui, the answer is base64-encoded and serialised after the lock is released: the next
            # request waiting on the lock starts meanwhile.
            if body is None:
                body = await asyncio.to_thread(answer)
            return web.Response(body=body, content_type="application/json")
        finally:
            self._pending.pop(task_id, None)

    def _apply_overrides(self, p: dict[str, Any]) -> dict[str, Any]:
        """Validate override_settings (unknown key → 500 KeyError) and load the job's checkpoint."""
        overrides = p["override_settings"]
        for key in overrides:
            if key not in self.options:
                raise self._exception_error("KeyError", repr(key))
        effective = dict(self.options)
        for key, value in overrides.items():
            if key == "sd_model_checkpoint":
                model = self._find_model(str(value))
                if model is None:  # unknown checkpoint: dropped silently
                    continue
                value = model.title
            effective[key] = value
        model = self._find_model(effective["sd_model_checkpoint"]) or self._loaded
        if model != self._loaded:
            self.swaps += 1
            self._loaded = model
        if not p.get("override_settings_restore_afterwards", True):
            for key in overrides:
                if key in effective:
                    self.options[key] = effective[key]
        return effective

    def _check_checkpoints(self, p: dict[str, Any]) -> None:
        for key in ("hr_checkpoint_name", "refiner_checkpoint"):
            value = p.get(key)
            if value and value not in ("Use same checkpoint", "None") and self._find_model(str(value)) is None:
                raise self._exception_error("Exception", f"Could not find checkpoint with name {value}")
        if p.get("enable_hr"):
            upscaler = p.get("hr_upscaler") or "Latent"
            known = {u[0] for u in UPSCALERS} | set(LATENT_UPSCALE_MODES)
            if upscaler not in known:
                raise self._exception_error("Exception", f"could not find upscaler named {upscaler}")

    def _apply_styles(self, prompt: str, negative: str, styles: list[str]) -> tuple[str, str]:
        by_name = {s[0]: s for s in self.styles}
        for name in styles:
            style = by_name.get(name)
            if style is None:
                continue

            def merge(text: str, style_text: str) -> str:
                if not style_text:
                    return text
                if "{prompt}" in style_text:
                    return style_text.replace("{prompt}", text)
                return f"{text}, {style_text}" if text else style_text

            prompt = merge(prompt, style[1])
            negative = merge(negative, style[2])
        return prompt, negative

    def _lora_hashes(self, prompt: str) -> str | None:
        found = []
        for name in self.loras:
            if f"<lora:{name}:" in prompt or f"<lora:{name}>" in prompt:
                found.append(f"{name}: {hashlib.sha256(name.encode()).hexdigest()[:12]}")
        return ", ".join(found) or None

    async def _gate(self) -> None:
        def open_() -> bool:
            st = self.state
            return not self._held or self._permits > 0 or st.interrupted or st.skipped or self._stopping

        await self._until(open_)
        st = self.state
        if self._held and self._permits > 0 and not (st.interrupted or st.skipped or self._stopping):
            self._permits -= 1

    async def _run(
        self, kind: str, p: dict[str, Any], sampler: str, scheduler: str, task_id: str
    ) -> Callable[[], bytes]:
        """The generation itself (under the lock); returns the encoder of its answer."""
        self._check_checkpoints(p)
        effective = self._apply_overrides(p)
        model = self._loaded
        n_iter = max(1, int(p["n_iter"]))
        batch_size = max(1, int(p["batch_size"]))
        width, height = max(8, int(p["width"])), max(8, int(p["height"]))
        steps = max(1, int(p["steps"]))
        enable_hr = bool(p.get("enable_hr")) and kind == "txt2img"
        denoise = p.get("denoising_strength")
        sampling_steps = steps
        if kind == "img2img" and denoise is not None and not effective.get("img2img_fix_steps"):
            sampling_steps = max(1, int(steps * float(denoise)))
        out_w, out_h = width, height
        if enable_hr:
            if p.get("hr_resize_x") or p.get("hr_resize_y"):
                out_w = int(p.get("hr_resize_x") or width * p["hr_resize_y"] / height)
                out_h = int(p.get("hr_resize_y") or height * p["hr_resize_x"] / width)
            else:
                out_w, out_h = int(width * float(p["hr_scale"])), int(height * float(p["hr_scale"]))

        total = n_iter * batch_size
        seed = int(p["seed"])
        if seed == -1:
            seed = random.randrange(4294967294)
        subseed = int(p["subseed"])
        if subseed == -1:
            subseed = random.randrange(4294967294)
        subseed_strength = float(p.get("subseed_strength") or 0)
        all_seeds = [seed + (k if subseed_strength == 0 else 0) for k in range(total)]
        all_subseeds = [subseed + k for k in range(total)]
        prompt, negative = self._apply_styles(str(p["prompt"] or ""), str(p["negative_prompt"] or ""), p["styles"])
        clip_skip = int(float(effective.get("CLIP_stop_at_last_layers", 1)))
        cfg = float(p["cfg_scale"])

        extra: dict[str, Any] = {}
        if enable_hr:
            extra["Hires upscale"] = float(p["hr_scale"])
            if p.get("hr_second_pass_steps"):
                extra["Hires steps"] = int(p["hr_second_pass_steps"])
            extra["Hires upscaler"] = p.get("hr_upscaler") or "Latent"
            if denoise is not None:
                extra["Denoising strength"] = float(denoise)
        vae = str(effective.get("sd_vae") or "Automatic")
        if self.flavor != "forge" and vae not in ("Automatic", "None"):  # a VAE chosen: A1111 writes its name
            extra["VAE"] = vae.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if self.flavor == "forge":
            for n, module in enumerate(effective.get("forge_additional_modules") or [], start=1):
                extra[f"Module {n}"] = str(module).rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if p.get("distilled_cfg_given"):
                extra["Distilled CFG Scale"] = p["distilled_cfg_scale"]
        lora_hashes = self._lora_hashes(prompt)
        if lora_hashes:
            extra["Lora hashes"] = lora_hashes
        restorer = effective.get("face_restoration_model") if p.get("restore_faces") else None
        if restorer is not None and restorer not in self.face_restorers:  # the webui skips an unknown restorer
            self.face_fixes.append(("none", f"no face restorer {restorer}"))
            restorer = None
        elif restorer is not None:
            self.face_fixes.append(("restore", str(restorer)))
        extra.update(self._adetailer_params(kind, p))
        if kind == "img2img" and p.get("mask"):
            extra["Mask blur"] = int(p.get("mask_blur") or p.get("mask_blur_x") or 4)
        if self.flavor == "forge" and body_has(p, "distilled_cfg_scale"):
            extra["Distilled CFG Scale"] = float(p["distilled_cfg_scale"])

        def infotext_for(k: int) -> str:
            params: dict[str, Any] = {
                "Steps": steps,
                "Sampler": sampler,
                "Schedule type": scheduler,
                "CFG scale": cfg,
                "Image CFG scale": p.get("image_cfg_scale") if kind == "img2img" else None,
                "Seed": all_seeds[k],
                "Face restoration": restorer,
                "Size": f"{width}x{height}",
                "Model hash": model.hash,
                "Model": model.model_name,
                "Variation seed": all_subseeds[k] if subseed_strength > 0 else None,
                "Variation seed strength": subseed_strength if subseed_strength > 0 else None,
                "Seed resize from": (
                    f"{p['seed_resize_from_w']}x{p['seed_resize_from_h']}"
                    if p["seed_resize_from_w"] > 0 and p["seed_resize_from_h"] > 0
                    else None
                ),
                "Denoising strength": float(denoise) if kind == "img2img" and denoise is not None else None,
                "Clip skip": clip_skip if clip_skip > 1 else None,
                "Tiling": True if p.get("tiling") else None,
                **extra,
            }
            if self.flavor == "sdnext":
                params["App"] = "SD.Next"
            params["Version"] = self.version
            return format_infotext(prompt, negative, params)

        st = self.state = _State(
            job=f"scripts_{kind}",
            job_count=n_iter * (2 if enable_hr else 1),
            sampling_steps=sampling_steps,
            job_timestamp=time.strftime("%Y%m%d%H%M%S"),
            time_start=time.monotonic(),
            preview_seed=seed,
        )
        self.started_count += 1
        self.generation_started.set()
        self._notify()
        per_step = self.gen_seconds * batch_size / sampling_steps if self.gen_seconds > 0 else 0.0

        images: list[bytes] = []
        texts: list[str] = []
        for b in range(n_iter):
            if st.interrupted or self._stopping:
                break
            st.job_no = b
            st.skipped = False
            st.preview_seed = all_seeds[b * batch_size]
            if n_iter > 1:
                st.job = f"Batch {b + 1} out of {n_iter}"
            due = 0.0
            for step in range(1, sampling_steps + 1):
                st.sampling_step = step
                self._notify()
                if step == 1:
                    await self._gate()
                    due = asyncio.get_running_loop().time()
                if per_step:
                    # to a deadline, so that timer granularity does not add up over the steps
                    due += per_step
                    await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
                if st.interrupted or st.skipped or self._stopping:
                    break
            # the running batch is decoded even when interrupted/skipped (from partial latents)
            batch = list(range(b * batch_size, (b + 1) * batch_size))
            batch_texts = [infotext_for(k) for k in batch]
            render = _IMAGE_STYLES[self.image_style]
            pngs = await asyncio.to_thread(
                lambda batch=batch, batch_texts=batch_texts, render=render: [
                    render(out_w, out_h, all_seeds[k], t) for k, t in zip(batch, batch_texts, strict=True)
                ]
            )
            if kind == "img2img" and p.get("mask"):
                pngs = await asyncio.to_thread(self._inpaint, p, pngs)
            images.extend(pngs)
            texts.extend(batch_texts)

        index_of_first_image = 0
        if p.get("save_images") and effective.get("return_grid", True) and len(images) >= 2:
            grid = await asyncio.to_thread(_grid, images, out_w, out_h, texts[0])
            images.insert(0, grid)
            texts.insert(0, texts[0])
            index_of_first_image = 1

        self.results.append(list(images))
        info: dict[str, Any] = {
            "prompt": prompt,
            "all_prompts": [prompt] * total,
            "negative_prompt": negative,
            "all_negative_prompts": [negative] * total,
            "seed": all_seeds[0],
            "all_seeds": all_seeds,
            "subseed": all_subseeds[0],
            "all_subseeds": all_subseeds,
            "subseed_strength": subseed_strength,
            "width": out_w if enable_hr else width,
            "height": out_h if enable_hr else height,
            "sampler_name": sampler,
            "cfg_scale": cfg,
            "steps": steps,
            "batch_size": batch_size,
            "restore_faces": bool(p.get("restore_faces")),
            "face_restoration_model": restorer,
            "sd_model_name": model.model_name,
            "sd_model_hash": model.hash,
            "sd_vae_name": None,
            "sd_vae_hash": None,
            "seed_resize_from_w": p["seed_resize_from_w"],
            "seed_resize_from_h": p["seed_resize_from_h"],
            "denoising_strength": denoise,
            "extra_generation_params": extra,
            "index_of_first_image": index_of_first_image,
            "infotexts": texts,
            "styles": p["styles"],
            "job_timestamp": st.job_timestamp,
            "clip_skip": clip_skip,
            "is_using_inpainting_conditioning": False,
            "version": self.version,
        }
        if self.flavor == "sdnext":
            for key in ("sd_model_name", "version", "is_using_inpainting_conditioning"):
                info.pop(key)
        parameters = dict(p)
        if kind == "img2img" and not p.get("include_init_images"):
            parameters["init_images"] = None
            parameters["mask"] = None
        send = p.get("send_images", True)

        def build() -> bytes:
            return json.dumps(
                {
                    "images": [_b64(i) for i in images] if send else [],
                    "parameters": parameters,
                    "info": json.dumps(info),
                }
            ).encode()

        return build


# ---------------------------------------------------------------------------------------------------
# Image tools: interrogation and inpainting (tests/cogs/test_tools.py). Kept together so other edits of this
# file stay apart from them.


# SD.Next's caption routes (docs/webui.md, "SD.Next captions"): the request models' fields and types, the models
# each lists, OpenCLIP's modes.
SDNEXT_OPENCLIP_MODELS = ("ViT-B-32/laion2b_s34b_b79k", "ViT-L-14/openai", "ViT-H-14/laion2b_s32b_b79k")
SDNEXT_OPENCLIP_MODES = ("best", "fast", "classic", "caption", "negative")
SDNEXT_WD_TAGGERS = ("wd-eva02-large-tagger-v3", "wd-vit-tagger-v3")
_OPT_INT = (int, type(None))
SDNEXT_OPENCLIP_FIELDS: dict[str, type | tuple[type, ...]] = {
    "image": str,
    "model": str,
    "clip_model": str,
    "blip_model": str,
    "mode": str,
    "analyze": bool,
    **dict.fromkeys(("max_length", "chunk_size", "min_flavors", "max_flavors", "flavor_count", "num_beams"), _OPT_INT),
}
SDNEXT_TAGGER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "image": str,
    "model": str,
    "threshold": (int, float),
    "character_threshold": (int, float),
    "max_tags": int,
    "include_rating": bool,
    "sort_alpha": bool,
    "use_spaces": bool,
    "escape_brackets": bool,
    "exclude_tags": str,
    "show_scores": bool,
}


def _interrogate_caption(data: bytes, model: str) -> str:
    """A caption that depends on the picture (its size and average colour), so tests can tell it was read."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
    r, g, b = rgb.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    tone = max((r, "red"), (g, "green"), (b, "blue"))[1]
    if model == "deepdanbooru":
        return f"no humans, simple background, {tone} theme, {rgb.width}x{rgb.height}"
    return f"a {tone} picture of {rgb.width} by {rgb.height} pixels"


def _inpaint_one(init: bytes, mask: bytes, rendered: bytes, invert: bool) -> bytes:
    """What inpainting does to the pixels: the rendered picture where the mask is white, the init image (at the
    output size) everywhere else. The rendered PNG's text (its infotext) is kept."""
    texts = read_png_text(rendered)
    with Image.open(io.BytesIO(rendered)) as im:
        out = im.convert("RGB")
    with Image.open(io.BytesIO(init)) as im:
        base = (
            im.convert("RGB").resize(out.size, Image.Resampling.LANCZOS) if im.size != out.size else im.convert("RGB")
        )
    with Image.open(io.BytesIO(mask)) as im:
        m = im.convert("L").resize(out.size, Image.Resampling.NEAREST)
    m = m.point(lambda v: 0 if v > 127 else 255) if invert else m.point(lambda v: 255 if v > 127 else 0)
    return _png_bytes(Image.composite(out, base, m), texts)


def _tools_methods() -> None:
    """Attach the image tools' handlers to FakeWebui (defined here, beside their helpers)."""

    async def _h_interrogate(self: FakeWebui, request: web.Request, payload: Any) -> Any:
        body = self._require_body(payload)
        props = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]["schemas"]["InterrogateRequest"]
        bad = [k for k in body if k not in props["properties"]]
        bad += [k for k in ("image", "model") if k in body and not isinstance(body[k], str)]
        if bad:
            self.validation_errors.extend(f"interrogate.{k}: not in the schema or not a string" for k in bad)
            raise _Reply(422, {"detail": [{"loc": ["body", k], "msg": "invalid", "type": "type_error"} for k in bad]})
        self.interrogations.append(body)
        self._notify()
        if not body.get("image"):
            raise self._webui_error(404, "Image not found")
        model = body.get("model", "clip")
        if model not in ("clip", "deepdanbooru"):
            raise self._webui_error(404, f"Model not found: {model}")
        data = self._decode_or_500(body["image"])
        async with self._lock:
            try:
                caption = await asyncio.to_thread(_interrogate_caption, data, model)
            except OSError as exc:
                raise self._webui_error(500, "Invalid encoded image") from exc
        return {"caption": caption}

    def _check_inpaint(self: FakeWebui, p: dict[str, Any]) -> None:
        """An inpainting payload: a mask the size of the init image, and sane fill / blur / area values."""
        problems = []
        init = _decode_image_arg(p["init_images"][0])
        mask = _decode_image_arg(p["mask"])
        with Image.open(io.BytesIO(init)) as a, Image.open(io.BytesIO(mask)) as b:
            sizes = (a.size, b.size)
            if b.mode not in ("L", "1", "RGB", "RGBA", "LA"):
                problems.append(f"mask: mode {b.mode}")
        self.inpaint_sizes.append(sizes)
        if sizes[0] != sizes[1]:
            problems.append(f"mask: {sizes[1]} is not the init image's size {sizes[0]}")
        if int(p.get("inpainting_fill") or 0) not in (0, 1, 2, 3):
            problems.append("inpainting_fill: not 0-3")
        blur = p.get("mask_blur")
        if blur is not None and (not isinstance(blur, int) or blur < 0 or blur > 64):
            problems.append("mask_blur: not 0-64")
        if (int(p["width"]), int(p["height"])) != sizes[0]:
            problems.append(f"size: {p['width']}x{p['height']} is not the init image's {sizes[0]}")
        if problems:
            self.validation_errors.extend(problems)
            raise _Reply(
                422, {"detail": [{"loc": ["body", "mask"], "msg": m, "type": "value_error"} for m in problems]}
            )

    def _inpaint(self: FakeWebui, p: dict[str, Any], pngs: list[bytes]) -> list[bytes]:
        init = _decode_image_arg(p["init_images"][0])
        mask = _decode_image_arg(p["mask"])
        invert = bool(p.get("inpainting_mask_invert"))
        return [_inpaint_one(init, mask, png, invert) for png in pngs]

    def _check_extras(self: FakeWebui, body: dict[str, Any]) -> list[str]:
        """The Extras payload against ExtrasSingleImageRequest (known keys; visibilities and weight in 0..1). Returns
        the face restorations it asked for, as the webui notes them in the ``postprocessing`` text."""
        props = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]["schemas"]["ExtrasSingleImageRequest"]
        problems = [f"extras.{k}: not in the schema" for k in body if k not in props["properties"]]
        faces = []
        for key, name in (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer")):
            value = body.get(key, 0)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                problems.append(f"extras.{key}: not a number in 0..1")
            elif value:
                faces.append(f", {name} visibility: {value:g}")
        weight = body.get("codeformer_weight", 0)
        if not isinstance(weight, int | float) or not 0 <= weight <= 1:
            problems.append("extras.codeformer_weight: not a number in 0..1")
        if problems:
            self.validation_errors.extend(problems)
            raise _Reply(422, {"detail": [{"loc": ["body"], "msg": m, "type": "value_error"} for m in problems]})
        return faces

    def _caption_body(self: FakeWebui, route: str, payload: Any, fields: Mapping[str, type | tuple[type, ...]]) -> dict:
        """An SD.Next caption request: a JSON object of known fields of the right types (its Pydantic model
        ignores unknown keys and answers 422 for a wrong type; the fake notes both as validation errors)."""
        body = self._require_body(payload)
        problems = [f"{route}.{k}: not a field of the request model" for k in body if k not in fields]
        problems += [
            f"{route}.{k}: not {fields[k]}"
            for k, v in body.items()
            if k in fields and (not isinstance(v, fields[k]) or isinstance(v, bool) is not (fields[k] is bool))
        ]
        if problems:
            self.validation_errors.extend(problems)
            raise _Reply(422, {"detail": [{"loc": ["body"], "msg": m, "type": "type_error"} for m in problems]})
        self.caption_calls.append((route, body))
        self._notify()
        if not body.get("image"):  # SD.Next: an empty or missing image is a 404
            raise self._webui_error(404, "Image not found")
        return body

    async def _caption_image(self: FakeWebui, body: dict[str, Any], model: str) -> str:
        data = self._decode_or_500(body["image"])
        async with self._lock:
            try:
                return await asyncio.to_thread(_interrogate_caption, data, model)
            except OSError as exc:
                raise self._webui_error(404, "Image not found") from exc

    async def _h_openclip_models(self: FakeWebui, request: web.Request, payload: Any) -> Any:
        return list(SDNEXT_OPENCLIP_MODELS)

    async def _h_openclip(self: FakeWebui, request: web.Request, payload: Any) -> Any:
        body = _caption_body(self, "openclip", payload, SDNEXT_OPENCLIP_FIELDS)
        if body.get("model", "ViT-L-14/openai") not in SDNEXT_OPENCLIP_MODELS:
            raise self._webui_error(404, "Model not found")
        mode = body.get("mode", "best")
        if mode not in SDNEXT_OPENCLIP_MODES:  # SD.Next answers 200 with the error as the caption
            self.validation_errors.append(f"openclip.mode: {mode!r} is not a mode")
            caption = f"Unknown mode {mode}"
        else:
            caption = await _caption_image(self, body, "clip")
        empty = dict.fromkeys(("medium", "artist", "movement", "trending", "flavor"))
        return {"caption": caption, **empty}

    async def _h_tagger_models(self: FakeWebui, request: web.Request, payload: Any) -> Any:
        return [{"name": name, "type": "waifudiffusion"} for name in SDNEXT_WD_TAGGERS] + [
            {"name": "deepbooru", "type": "deepbooru"}
        ]

    async def _h_tagger(self: FakeWebui, request: web.Request, payload: Any) -> Any:
        body = _caption_body(self, "tagger", payload, SDNEXT_TAGGER_FIELDS)
        for key, low, high in (("threshold", 0.0, 1.0), ("character_threshold", 0.0, 1.0), ("max_tags", 1, 512)):
            if key in body and not low <= body[key] <= high:
                self.validation_errors.append(f"tagger.{key}: not in {low}..{high}")
                raise _Reply(422, {"detail": [{"loc": ["body", key], "msg": "out of range", "type": "value_error"}]})
        model = body.get("model", SDNEXT_WD_TAGGERS[0])
        if model.lower() not in ("deepbooru", "deepdanbooru") and model not in SDNEXT_WD_TAGGERS:
            raise self._exception_error("FileNotFoundError", f"tagger model not found: {model}")
        tags = (await _caption_image(self, body, "deepdanbooru")).split(", ")
        if not body.get("use_spaces", False):
            tags = [t.replace(" ", "_") for t in tags]
        return {"tags": ", ".join(tags), "scores": None}

    FakeWebui._h_openclip_models = _h_openclip_models  # type: ignore[attr-defined]
    FakeWebui._h_openclip = _h_openclip  # type: ignore[attr-defined]
    FakeWebui._h_tagger_models = _h_tagger_models  # type: ignore[attr-defined]
    FakeWebui._h_tagger = _h_tagger  # type: ignore[attr-defined]
    FakeWebui._check_extras = _check_extras  # type: ignore[attr-defined]
    FakeWebui._h_interrogate = _h_interrogate  # type: ignore[attr-defined]
    FakeWebui._check_inpaint = _check_inpaint  # type: ignore[attr-defined]
    FakeWebui._inpaint = _inpaint  # type: ignore[attr-defined]


_tools_methods()
