"""What people read about the image tools: /upscale, /describe, Zoom out and pan (docs/tools.md)."""

from __future__ import annotations

from easel.i18n import N_, _
from easel.jobs import Job, StoredImage
from easel.request import DrawRequest
from easel.texts.markup import CONTENT_LIMIT, code_block, escape, shorten

__all__ = [
    "DESCRIBE_ONLY_FOR_YOU",
    "NO_DESCRIBER",
    "NO_FACE_FIX",
    "NO_IMAGE",
    "choose_tool_text",
    "describe_done_text",
    "describe_info_sections",
    "describe_result",
    "image_option_label",
    "original_section",
    "pick_image_text",
    "tool_kind",
]

NO_IMAGE = N_("That message has no picture Easel can use (PNG, JPEG or WebP).")
DESCRIBE_ONLY_FOR_YOU = N_("Only the person who asked for this description can use its buttons.")
NO_DESCRIBER = N_("No image server here can describe pictures (none has an interrogator or a caption route).")
NO_FACE_FIX = N_("No image server here has GFPGAN or CodeFormer face restoration; upscale without face_fix.")
PICK_IMAGE = N_("That message has {n} pictures: pick one.")
CHOOSE_TOOL = N_("Zoom out or pan picture {n} of `{job}`:")

_PAN_LABELS = {
    "left": N_("pan left"),
    "right": N_("pan right"),
    "up": N_("pan up"),
    "down": N_("pan down"),
}


def tool_kind(r: DrawRequest) -> str | None:
    """How a tool's result is named in its summary ("zoom out 2x", "pan left", "upscale 2x"); None: not a tool's."""
    if r.upscale:
        return _("upscale {factor:g}x").format(factor=r.upscale_factor)
    if r.outpaint:
        kind, _sep, value = r.outpaint.partition(":")
        if kind == "zoom":
            return _("zoom out {factor}x").format(factor=value)
        label = _PAN_LABELS.get(value)
        return _(label) if label else _("pan")
    return None


def describe_result(job: Job, description: str) -> str:
    """The private answer to /describe: the description in a copyable block."""
    model = "CLIP" if job.request.describe == "clip" else "DeepDanbooru"
    head = _("What {model} sees in that picture (`{id}`), ready to copy:").format(model=model, id=job.id)
    if not description.strip():
        return _("{head}\n(nothing: the interrogator returned no text)").format(head=head)
    return f"{head}\n{code_block(description, CONTENT_LIMIT - len(head) - 20)}"


def original_section(infotext: str) -> tuple[str, str]:
    """The embed beside a description: the parameters the picture itself says it was made with."""
    return _("The picture's own parameters"), code_block(infotext, 4000)


def describe_info_sections(job: Job, images: list[StoredImage]) -> list[tuple[str, str]]:
    """Info on a description (its stored rows: the description, then the picture's own infotext when it had one):
    the picture's own parameters, else a word that this is a description, not a drawing's infotext."""
    original = images[1].infotext if len(images) > 1 else ""
    if original:
        return [original_section(original)]
    return [
        (
            _("Image info"),
            _("`{id}` is a description of a picture, not a drawing: the picture had no generation parameters.").format(
                id=job.id
            ),
        )
    ]


def pick_image_text(n: int) -> str:
    return _(PICK_IMAGE).format(n=n)


def choose_tool_text(index: int, job_id: str) -> str:
    return _(CHOOSE_TOOL).format(n=index + 1, job=job_id)


def image_option_label(index: int, filename: str) -> str:
    return shorten(_("{n}. {name}").format(n=index + 1, name=escape(filename)), 100)


def describe_done_text(job: Job) -> str:
    return _("Done: the description of `{id}` is below, for you only.").format(id=job.id)
