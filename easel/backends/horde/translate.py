"""A :class:`DrawRequest` to the AI Horde's ``/v2/generate/async`` body, and what can't go there.

Pure: no I/O. The facts it relies on are in docs/horde.md: the negative prompt goes after ``###`` in the one
prompt string, sides are multiples of 64 (64-3072), ``cfg_scale`` has at most 2 decimals, the seed is a string,
samplers have the Horde's ``k_*`` names, the scheduler is the bool ``karras``, LoRAs go by name in
``params.loras`` (at most 5), img2img sends ``source_image`` (base64 WebP) and ``denoising_strength``, and
``nsfw`` / ``censor_nsfw`` are always sent (the server defaults both to true whatever its documentation says).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from easel.backends.errors import WebuiRequestError
from easel.config import NsfwCheck
from easel.i18n import N_, _
from easel.request import DrawRequest

__all__ = [
    "KARRAS",
    "MAX_LORAS",
    "SAMPLERS",
    "HordeOptions",
    "HordeRefusal",
    "HordeUnsupported",
    "horde_side",
    "nsfw_flags",
    "sampler_name",
    "split_loras",
    "to_horde",
]

# A1111 sampler names (as Easel's users pick them) -> the Horde's names. Both directions are needed: the
# infotext written into a Horde result names the A1111 sampler so Reroll / Draw this again work anywhere.
SAMPLERS: dict[str, str] = {
    "Euler a": "k_euler_a",
    "Euler": "k_euler",
    "LMS": "k_lms",
    "Heun": "k_heun",
    "DPM2": "k_dpm_2",
    "DPM2 a": "k_dpm_2_a",
    "DPM fast": "k_dpm_fast",
    "DPM adaptive": "k_dpm_adaptive",
    "DPM++ 2S a": "k_dpmpp_2s_a",
    "DPM++ 2M": "k_dpmpp_2m",
    "DPM++ SDE": "k_dpmpp_sde",
    "DDIM": "DDIM",
    "LCM": "lcm",
}
# Schedulers the Horde has: its default, and Karras (the bool ``karras``).
KARRAS = "Karras"
SCHEDULERS: tuple[str, ...] = ("Automatic", KARRAS)
MAX_LORAS = 5
MAX_IMAGES = 20
MIN_SIDE, MAX_SIDE = 64, 3072
MAX_CLIP_SKIP = 12

_LORA = re.compile(r"<lora:([^:>]+)(?::([-+]?\d*\.?\d+))?(?::[^>]*)?>", re.IGNORECASE)

_NO_UPSCALE = N_("Upscaling a result isn't available on the AI Horde here; it needs a local image server.")
_NO_STYLE = N_("Styles ({style}) belong to the local image servers; the AI Horde can't apply them.")
_NO_VARIATION = N_("Variations of a result (Vary) need a local image server; the AI Horde can't make them.")
_NO_SAMPLER = N_("The AI Horde has no sampler {sampler!r}; pick one of: {choices}.")
_NO_SCHEDULER = N_("The AI Horde has no scheduler {scheduler!r}; use Automatic or Karras.")
_TOO_MANY_IMAGES = N_("The AI Horde draws at most {limit} images per request.")
_TOO_MANY_LORAS = N_("The AI Horde takes at most {limit} LoRAs per request; this prompt has {count}.")
_CLIP_SKIP = N_("The AI Horde takes clip_skip 1-{limit}.")
_NO_INIT = N_("img2img needs an init image.")


class HordeRefusal:
    """Marks an error that says the Horde won't draw this request (not that the backend is broken): a local
    backend may still draw it."""


class HordeUnsupported(WebuiRequestError, HordeRefusal):
    """The request asks for something the Horde can't do; ``message`` is one line for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message, backend="horde", route="translate")


@dataclass(frozen=True)
class HordeOptions:
    """The ``[[backends]] kind = "horde"`` choices that shape every request."""

    models: tuple[str, ...] = ()  # the Horde models Easel may ask for; empty: any
    trusted_workers: bool = False
    allow_downgrade: bool = False
    slow_workers: bool = True


def horde_side(value: int) -> int:
    """A side as the Horde wants it: the nearest multiple of 64 (ties up), within 64-3072."""
    rounded = (value + 32) // 64 * 64
    return max(MIN_SIDE, min(MAX_SIDE, rounded))


def sampler_name(a1111: str) -> str:
    """The Horde's name for an A1111 sampler; HordeUnsupported when it has none."""
    low = a1111.strip().lower()
    for name, horde in SAMPLERS.items():
        if low in (name.lower(), horde.lower()):
            return horde
    raise HordeUnsupported(_(_NO_SAMPLER).format(sampler=a1111, choices=", ".join(SAMPLERS)))


def a1111_sampler(horde: str) -> str:
    """The A1111 name of a Horde sampler (the name itself when unknown)."""
    return next((name for name, h in SAMPLERS.items() if h.lower() == horde.lower()), horde)


def nsfw_flags(request: DrawRequest) -> tuple[bool, bool]:
    """``(nsfw, censor_nsfw)`` for a request. The request's image-check mode was decided at admission from the
    channel's age restriction and the server's policy: off (an age-restricted channel, or a server without the
    check) lets NSFW workers draw it uncensored; any other mode asks for SFW workers that censor."""
    if request.nsfw_check is NsfwCheck.OFF:
        return True, False
    return False, True


def split_loras(prompt: str) -> tuple[str, list[dict[str, Any]]]:
    """The prompt without its ``<lora:name:weight>`` tags, and the tags as the Horde's ``loras`` items."""
    loras: list[dict[str, Any]] = []
    for m in _LORA.finditer(prompt):
        weight = float(m.group(2)) if m.group(2) else 1.0
        weight = max(-5.0, min(5.0, weight))
        loras.append({"name": m.group(1).strip()[:255], "model": weight, "clip": weight})
    text = " ".join(_LORA.sub(" ", prompt).split()) if loras else prompt
    return text, loras


def to_horde(
    request: DrawRequest,
    options: HordeOptions,
    *,
    model: str | None,
    source_webp: bytes | None = None,
) -> dict[str, Any]:
    """The ``/v2/generate/async`` body for ``request``. ``model``: the Horde model to ask for (None: any of
    ``options.models``). ``source_webp``: the init image, already converted to WebP (img2img). Raises
    HordeUnsupported with a one-line reason for what the Horde can't do."""
    r = request
    if r.upscale:
        raise HordeUnsupported(_(_NO_UPSCALE))
    if r.style:
        raise HordeUnsupported(_(_NO_STYLE).format(style=r.style))
    if r.subseed_strength > 0:
        raise HordeUnsupported(_(_NO_VARIATION))
    if r.count > MAX_IMAGES:
        raise HordeUnsupported(_(_TOO_MANY_IMAGES).format(limit=MAX_IMAGES))
    if r.clip_skip is not None and not 1 <= r.clip_skip <= MAX_CLIP_SKIP:
        raise HordeUnsupported(_(_CLIP_SKIP).format(limit=MAX_CLIP_SKIP))
    scheduler = (r.scheduler or "Automatic").strip()
    if scheduler.lower() not in (s.lower() for s in SCHEDULERS):
        raise HordeUnsupported(_(_NO_SCHEDULER).format(scheduler=scheduler))
    prompt, loras = split_loras(r.prompt)
    negative, negative_loras = split_loras(r.negative_prompt)
    del negative_loras  # a LoRA tag in the negative prompt does nothing on the webui either
    if len(loras) > MAX_LORAS:
        raise HordeUnsupported(_(_TOO_MANY_LORAS).format(limit=MAX_LORAS, count=len(loras)))
    params: dict[str, Any] = {
        "sampler_name": sampler_name(r.sampler),
        "cfg_scale": round(float(r.cfg_scale), 2),
        "steps": int(r.steps),
        "n": int(r.count),
        "width": horde_side(r.width),
        "height": horde_side(r.height),
        "karras": scheduler.lower() == KARRAS.lower(),
    }
    if r.seed >= 0:
        params["seed"] = str(r.seed)
    if r.clip_skip is not None:
        params["clip_skip"] = int(r.clip_skip)
    if loras:
        params["loras"] = loras
    nsfw, censor = nsfw_flags(r)
    body: dict[str, Any] = {
        "prompt": f"{prompt} ### {negative}" if negative.strip() else prompt,
        "params": params,
        "nsfw": nsfw,
        "censor_nsfw": censor,
        "trusted_workers": options.trusted_workers,
        "slow_workers": options.slow_workers,
        "r2": True,
        "shared": False,
        "replacement_filter": True,
        "allow_downgrade": options.allow_downgrade,
    }
    if model:
        body["models"] = [model]
    elif options.models:
        body["models"] = list(options.models)
    if r.img2img:
        if source_webp is None:
            raise HordeUnsupported(_(_NO_INIT))
        body["source_image"] = base64.b64encode(source_webp).decode("ascii")
        body["source_processing"] = "img2img"
        params["denoising_strength"] = max(0.01, min(1.0, round(float(r.strength), 2)))
    elif r.hires_fix:
        params["hires_fix"] = True
    return body
