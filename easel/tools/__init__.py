"""The image tools on any picture: upscale, describe, zoom out and pan (docs/tools.md).

Each tool is a job like any other: the cogs build an :class:`easel.admission.Ask` with a finished request from the
functions here, and the one admission path checks it. The picture of a foreign message is downloaded only after
every rule has passed (``Ask.init_image``); its size then decides the request's (``Ask.sized``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum

from easel.config import Config, ToolsConfig
from easel.errors import RequestError
from easel.i18n import _, format_number
from easel.request import DrawRequest
from easel.tools.outpaint import canvas_for, fit_canvas

__all__ = [
    "MIN_UPSCALE",
    "FaceRestorer",
    "Interrogator",
    "describe_request",
    "face_payload",
    "outpaint_request",
    "sized_upscale",
    "upscale_request",
    "upscale_size",
]

MIN_UPSCALE = 1.5


class FaceRestorer(StrEnum):
    """The Extras tab's face restorations (A1111 and Forge have both)."""

    GFPGAN = "gfpgan"
    CODEFORMER = "codeformer"


def face_payload(name: str) -> dict[str, float]:
    """The extras payload keys that turn ``name``'s face restoration fully on ({} for none)."""
    if not name:
        return {}
    if FaceRestorer(name) is FaceRestorer.GFPGAN:
        return {"gfpgan_visibility": 1.0}
    return {"codeformer_visibility": 1.0, "codeformer_weight": 0.5}


class Interrogator(StrEnum):
    """What /describe asks for: a sentence (CLIP; on SD.Next OpenCLIP) or booru tags (DeepDanbooru; its tagger)."""

    CLIP = "clip"
    DEEPDANBOORU = "deepdanbooru"


def upscale_size(size: tuple[int, int], factor: float, tools: ToolsConfig) -> tuple[int, int]:
    """The upscaled size, refused (one line) past the factor range or the output pixel ceiling."""
    if not math.isfinite(factor) or not MIN_UPSCALE <= factor <= tools.max_upscale_factor:
        raise RequestError(
            _("The upscale factor must be between {low:g} and {high:g}.").format(
                low=MIN_UPSCALE, high=tools.max_upscale_factor
            )
        )
    w, h = round(size[0] * factor), round(size[1] * factor)
    if w * h > tools.max_upscale_pixels:
        top = math.sqrt(tools.max_upscale_pixels / (size[0] * size[1]))
        hint = (
            _(" (at most {top:.2f}x for this picture)").format(top=math.floor(top * 100) / 100)
            if top >= MIN_UPSCALE
            else ""
        )
        raise RequestError(
            _("{w}x{h} is more than the {limit} pixels an upscale may have{hint}.").format(
                w=w, h=h, limit=format_number(tools.max_upscale_pixels), hint=hint
            )
        )
    return w, h


def upscale_request(
    *,
    upscaler: str,
    factor: float,
    source: str = "",
    spoiler: bool = False,
    prompt: str = "",
    face_restore: FaceRestorer | str = "",
) -> DrawRequest:
    """An upscale of a picture given later (``Ask.init_image``); :func:`sized_upscale` sets its size."""
    return DrawRequest(
        prompt=prompt,
        upscale=True,
        upscaler=upscaler,
        upscale_factor=factor,
        source=source,
        spoiler=spoiler,
        face_restore=str(FaceRestorer(face_restore)) if face_restore else "",
    )


def sized_upscale(tools: ToolsConfig) -> Callable[[DrawRequest, tuple[int, int]], DrawRequest]:
    """``Ask.sized`` for an upscale: the output size from the picture's, within the ceiling."""

    def sized(request: DrawRequest, size: tuple[int, int]) -> DrawRequest:
        w, h = upscale_size(size, request.upscale_factor, tools)
        return replace(request, width=w, height=h)

    return sized


def describe_request(interrogator: Interrogator | str, *, source: str = "") -> DrawRequest:
    """A describe job: its result is text (the interrogator's answer about ``init_image``)."""
    return DrawRequest(prompt="", describe=str(Interrogator(interrogator)), source=source)


def outpaint_request(
    base: DrawRequest, image: bytes, size: tuple[int, int], seed: int, op: str, cfg: Config, *, source: str
) -> DrawRequest:
    """Zoom out / pan of a result's picture (``image``, ``size``): the same prompt, model, sampler and steps, the
    image's seed when its request had a fixed one (a new one otherwise), inpainting the new area at the canvas'
    size fitted to the limits."""
    width, height = fit_canvas(canvas_for(size, op).size, cfg.limits)
    return replace(
        base,
        width=width,
        height=height,
        aspect=None,
        count=1,
        seed=seed if base.seed != -1 else -1,
        subseed=-1,
        subseed_strength=0.0,
        hires_fix=False,
        img2img=True,
        strength=cfg.tools.outpaint_denoise,
        upscale=False,
        describe="",
        outpaint=op,
        mask_blur=cfg.tools.outpaint_mask_blur,
        source=source,
        init_image=image,
        mask=None,
    )
