"""What a requester reads about a job: queued, drawing, progress, done, failed, cancelled; the result summary
beside the images; the Info sections (full infotext and a reproducing /draw line) and the "Image info" embed.

Everything echoed from users is escaped and shortened (:mod:`easel.texts.markup`) so each text fits Discord's
limits: 2000 characters of content, 4096 per embed description, 6000 over a message's embeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from easel.i18n import N_, _, format_number, ngettext
from easel.infotext import parse_infotext
from easel.jobs import Job, StoredImage
from easel.options import OPTIONS, command_value, wrap_seed
from easel.request import DrawRequest
from easel.texts.markup import CONTENT_LIMIT, code_block, duration, escape, relative_time, shorten
from easel.texts.tools import describe_info_sections, tool_kind

__all__ = [
    "cancelled_text",
    "controls_line",
    "done_text",
    "draw_command",
    "failed_text",
    "image_info_section",
    "info_sections",
    "progress_text",
    "queued_text",
    "result_summary",
    "started_text",
]


def _controls(r: DrawRequest, lora_limit: int, *, markdown: bool = True) -> list[str]:
    """The LoRAs with their weights, the face fix when on, and the preset the request was filled from; escaped for
    message content (``markdown``), as they are for an embed footer (which Discord shows as plain text)."""
    show = escape if markdown else (lambda text: text)
    parts = []
    if r.loras:
        loras = ", ".join(f"{shorten(ref.name, 60)} {ref.weight:g}" for ref in r.loras)
        parts.append(_("LoRA: {loras}").format(loras=show(shorten(loras, lora_limit))))
    if r.face_fix and r.face_fix != "off":
        parts.append(_("Face fix: {mode}").format(mode=show(r.face_fix)))
    if r.preset:
        parts.append(_("Preset: {name}").format(name=show(shorten(r.preset, 60))))
    return parts


def controls_line(req: DrawRequest, limit: int = 1000) -> str:
    """``LoRA: a 0.8, b 0.5 · Face fix: on · Preset: anime`` (those of them the request has; "" when none) as plain
    text, for the footer of the Info embeds, within ``limit`` characters."""
    return shorten(" · ".join(_controls(req, max(60, limit // 2), markdown=False)), limit)


def result_summary(job: Job, images: list[StoredImage], *, prompt_limit: int = 600) -> str:
    """The text beside the images: requester mention, prompt, seeds and settings, time taken."""
    r = job.request
    info = parse_infotext(images[0].infotext) if images and images[0].infotext else None
    params = info.params if info else {}
    seeds = ", ".join(str(im.seed) for im in images) or str(r.seed)
    sampler = params.get("Sampler", r.sampler)
    schedule = params.get("Schedule type")
    if schedule and schedule != "Automatic":
        sampler = f"{sampler} {schedule}"
    model = params.get("Model", r.model or _("default"))
    size = params.get("Size", f"{r.width}x{r.height}")
    if r.aspect:
        size = f"{size} ({r.aspect})"
    kind = tool_kind(r) or ("img2img" if r.img2img else ("txt2img + hires fix" if r.hires_fix else "txt2img"))
    taken = job.elapsed if job.elapsed is not None else 0.0
    lines = [
        _("<@{user}> here is your drawing (`{job}`, {kind}, {time})").format(
            user=job.user_id, job=job.id, kind=kind, time=duration(taken)
        ),
        _("**Prompt:** {prompt}").format(
            prompt=escape(shorten(r.prompt or (info.prompt if info else ""), prompt_limit))
        ),
    ]
    if r.negative_prompt:
        lines.append(_("**Negative:** {prompt}").format(prompt=escape(shorten(r.negative_prompt, prompt_limit // 2))))
    details = [
        (_("Seeds: {seeds}") if len(images) > 1 else _("Seed: {seeds}")).format(seeds=seeds),
        _("Steps: {steps}").format(steps=params.get("Steps", r.steps)),
        _("Sampler: {sampler}").format(sampler=escape(sampler)),
        _("CFG: {cfg}").format(cfg=params.get("CFG scale", r.cfg_scale)),
        _("Size: {size}").format(size=size),
        _("Model: {model}").format(model=escape(shorten(model, 80))),
    ]
    if r.style:
        details.append(_("Style: {style}").format(style=escape(shorten(r.style, 60))))
    if r.img2img:
        details.append(_("Strength: {strength}").format(strength=f"{r.strength:g}"))
    details += _controls(r, max(60, prompt_limit // 2))
    lines.append(" · ".join(details))
    text = "\n".join(lines)
    if len(text) > CONTENT_LIMIT:  # only with extreme names (model, style, many long LoRAs): cut harder
        if prompt_limit > 50:
            return result_summary(job, images, prompt_limit=max(50, prompt_limit // 2))
        text = text[: CONTENT_LIMIT - 1] + "…"
    return text


def queued_text(job: Job, position: int, eta: float | None, *, backends_down: bool = False) -> str:
    when = _(", expected to start {when}").format(when=relative_time(eta)) if eta and eta > time.time() + 5 else ""
    down = (
        "\n" + _("The image server is not answering right now; your job is safe and starts when it is back.")
        if backends_down
        else ""
    )
    if not job.request.prompt:  # an image tool on someone's picture: no prompt to quote
        where = (
            _("The description will be sent to you privately.")
            if job.request.describe
            else _("The result will be posted in this channel.")
        )
        return _("Queued `{id}` ({kind}): **#{n}** in line{when}.{down}\n{where} Use /cancel to drop it.").format(
            id=job.id, kind=job.request.kind, n=position, when=when, down=down, where=where
        )
    return (
        _("Queued `{job}`: **#{n}** in line{when}.").format(job=job.id, n=position, when=when)
        + f"{down}\n"
        + f"> {escape(shorten(job.request.prompt, 200))}\n"
        + _("The result will be posted in this channel. Use /queue to see your jobs, /cancel to drop one.")
    )


def started_text(job: Job, backend: str) -> str:
    if not job.request.prompt:
        return _("Working on `{id}` ({kind}) on **{backend}**…").format(
            id=job.id, kind=job.request.kind, backend=escape(backend)
        )
    return (
        _("Drawing `{job}` on **{backend}**…").format(job=job.id, backend=escape(backend))
        + f"\n> {escape(shorten(job.request.prompt, 200))}"
    )


def progress_text(job: Job, backend: str, fraction: float, eta: float | None, *, waiting: int | None = None) -> str:
    """The requester's reply while a job runs: a progress bar, or, while the job still waits in the backend's own
    line (``waiting`` requests ahead: the AI Horde), its place there and the backend's estimate."""
    if waiting is not None:
        left = _(", about {time} left").format(time=duration(eta)) if eta and eta > 0 else ""
        if waiting > 0:
            return _("`{job}` is waiting in **{backend}**'s line: {n} ahead of it{left}").format(
                job=job.id, backend=escape(backend), n=format_number(waiting), left=left
            )
        return _("`{job}` is next in **{backend}**'s line{left}").format(job=job.id, backend=escape(backend), left=left)
    pct = max(0, min(100, int(fraction * 100)))
    bar = "█" * (pct // 10) + "░" * (10 - pct // 10)
    left = _(", about {time} left").format(time=duration(eta)) if eta and eta > 0 else ""
    return _("Drawing `{job}` on **{backend}**: {bar} {pct}%{left}").format(
        job=job.id, backend=escape(backend), bar=bar, pct=pct, left=left
    )


def done_text(job: Job) -> str:
    return _("Done: `{job}` was posted in the channel.").format(job=job.id)


def failed_text(job: Job, message: str) -> str:
    return _("Job `{job}` failed: {message}").format(job=job.id, message=message)


def _images(n: int) -> str:
    return ngettext("{n} image", "{n} images", n).format(n=n)


def flagged_spoiler_note(count: int) -> str:
    """Under a result whose flagged images were put behind a spoiler by the image check."""
    return "-# " + _("{images} flagged by the image check: behind a spoiler.").format(images=_images(count))


def flagged_blur_note(count: int) -> str:
    """Under a result whose flagged images are posted blurred (the requester can get the originals)."""
    return "-# " + _(
        "{images} flagged by the image check: blurred here; the requester can get the original privately."
    ).format(images=_images(count))


def all_withheld_text(job: Job) -> str:
    """To the requester alone: the image check held back every image of the result."""
    return _("Job `{job}`: nothing was posted: the image check flagged every image.").format(job=job.id)


def withheld_text(flagged: int, total: int) -> str:
    """To the requester alone, under "Done": how many images the image check held back."""
    return _("{flagged} of {total} images were not posted: the image check flagged them.").format(
        flagged=flagged, total=total
    )


def done_with_link(job: Job, link: str) -> str:
    return done_text(job) + (f" {link}" if link else "")


def cancelled_text(job: Job) -> str:
    return _("Job `{job}` was cancelled.").format(job=job.id)


def draw_command(req: DrawRequest, seed: int) -> str:
    """A /draw command line that reproduces an image (options a user can paste), from the option table.

    ``seed`` is the image's own seed; one past the largest seed /draw takes (a batch counts on from the first
    seed) is wrapped around so the line stays valid."""
    parts = []
    for opt in OPTIONS:
        if not opt.command_line or (opt.requires == "init_image" and not req.img2img):
            continue
        value = wrap_seed(seed) if opt.name == "seed" else getattr(req, opt.name, None)
        text = command_value(opt, value)
        if text is not None:
            parts.append(f"{opt.name}:{text}")
    return "/draw " + " ".join(parts)


def info_sections(job: Job, images: list[StoredImage], budget: int = 5800) -> list[tuple[str, str]]:
    """(title, body) per image for the Info button: the full infotext and a reproducing /draw line, all within
    Discord's embed limits (4096 per description, 6000 in all). A description: the picture's own parameters."""
    if job.request.describe:
        return describe_info_sections(job, images)
    per_image = min(4000, budget // max(1, len(images)))
    sections = []
    for im in images:
        command = draw_command(job.request, im.seed)
        command_part = code_block(command, min(900, per_image // 3))
        info_part = code_block(im.infotext or _("(no infotext)"), per_image - len(command_part) - 2)
        sections.append(
            (_("Image {n} · seed {seed}").format(n=im.index + 1, seed=im.seed), f"{info_part}\n{command_part}")
        )
    return sections


def image_info_section(infotext: str) -> tuple[str, str]:
    """(title, body) of the "Image info" embed for an image that is not a stored Easel result: its infotext."""
    return _("Image info"), code_block(infotext, 4000)


# What each backend capability is called when a job needs one that no backend has (easel.backends.base.Capability).
_CAPABILITY_NAMES = {
    "txt2img": N_("drawing from a prompt"),
    "img2img": N_("drawing from a picture"),
    "inpaint": N_("repainting part of a picture (zoom out, pan)"),
    "upscale": N_("upscaling"),
    "interrogate": N_("describing pictures"),
    "loras": N_("LoRAs"),
    "models": N_("choosing the model"),
    "face_fix": N_("face fix"),
    "task_progress": N_("following one job"),
}


def capability_names(capabilities: Iterable[str]) -> str:
    """The capabilities, named for people and comma-separated, in the current language."""
    return ", ".join(sorted(_(_CAPABILITY_NAMES.get(str(c), str(c))) for c in capabilities))
