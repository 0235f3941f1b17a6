"""Text for /help, /models, /status, /queue and /cancel. Pure functions over plain values: no Discord, no I/O.

Every text fits Discord's 2000-character message content; names that came from a webui or the config are
escaped so markdown in them cannot change the layout. A backend's answers show whether it is up and busy, never
why it is down (an address, an exception text: that is in the log), and never someone else's job id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from easel.config import Config
from easel.i18n import N_, _, format_number
from easel.options import OPTIONS, CatalogView, help_line
from easel.texts.markup import CONTENT_LIMIT, escape, fit_lines, relative_time, shorten

__all__ = [
    "BackendState",
    "QueueEntry",
    "cancel_choice",
    "help_text",
    "models_text",
    "no_jobs_to_cancel_text",
    "queue_text",
    "status_text",
    "unknown_job_text",
]

_COUNT_STATES = {"failed": N_("{n} failed"), "cancelled": N_("{n} cancelled")}


def help_text(config: Config) -> str:
    """What /help says: every command and every /draw option (from the option table), with this server's
    defaults and limits."""
    d, lim = config.defaults, config.limits
    size_limit = _("up to {width}x{height}").format(width=lim.max_width, height=lim.max_height)
    if lim.max_pixels < lim.max_width * lim.max_height:
        size_limit += _(", {pixels} pixels at most").format(pixels=format_number(lim.max_pixels))
    per_user = _("You can have {n} job(s) waiting at a time").format(n=lim.max_queued_per_user)
    if lim.cooldown_seconds:
        per_user += _(", and draw once every {seconds} s").format(seconds=format_number(lim.cooldown_seconds))
    lines = [
        _("**Easel** draws pictures with Stable Diffusion. Jobs wait in a fair line: everyone gets a turn."),
        "",
        _("**Commands**"),
        _("`/draw` draw an image; the result is posted in the channel"),
        _("`/queue` your jobs, their place in line and when they should start"),
        _("`/cancel` cancel your latest job, or the one you name"),
        _("`/models` the models you can draw with"),
        _("`/status` the line, what is being drawn, each image server"),
        _("`/help` this text"),
        "",
        _("**/draw options** (only `prompt` is required)"),
        *(help_line(o, d, lim, show=lambda v: escape(shorten(str(v), 60))) for o in OPTIONS),
        _("Images: {size} (default {width}x{height}).").format(size=size_limit, width=d.width, height=d.height),
        "",
        _("{per_user}. The settings of every image are written in its PNG file.").format(per_user=per_user),
    ]
    return fit_lines(lines, "…", keep=len(lines))


def models_text(
    catalog: CatalogView,
    backend_names: Sequence[str],
    *,
    loaded: Mapping[str, str | None] | None = None,
    limit: int = CONTENT_LIMIT,
) -> str:
    """/models: every model, with the backends that have it when there is more than one backend."""
    names = catalog.model_names()
    if not names:
        return _(
            "No models known yet: no image server has answered. Try again in a minute; if it stays like this, "
            "the bot admin can run `python bot.py check`."
        )
    loaded = loaded or {}
    several = len(backend_names) > 1
    lines = [_("**{n} model(s)** (pick one with /draw's `model` option; it autocompletes):").format(n=len(names))]
    for name in names:
        where = catalog.backends_with_model(name)
        line = f"• {escape(shorten(name, 100))}"
        if several:
            line += f" — {', '.join(escape(shorten(b, 40)) for b in where)}"
        busy = [b for b in where if loaded.get(b) == name]
        if busy:
            line += (
                _(" (loaded)")
                if not several
                else _(" (loaded on {backends})").format(backends=", ".join(escape(shorten(b, 40)) for b in busy))
            )
        lines.append(line)
    return fit_lines(lines, _("… and {n} more: type in /draw's `model` option to search them all."), limit, keep=1)


def _backend_line(b: Any, viewer_id: int | None = None) -> str:
    """One backend for /status: up/idle, busy, or down. Never why it is down (an address, an exception text: that
    is in the log) and never someone else's job: only the viewer's own job id is shown."""
    name = escape(shorten(str(b.name), 40))
    model = getattr(b, "loaded_model", None)
    model_text = _(", model {model}").format(model=escape(shorten(model, 60))) if model else ""
    if not b.up:
        return _("• **{name}**: down").format(name=name)
    current = getattr(b, "current", None)
    if current is not None:
        if viewer_id is not None and getattr(current, "user_id", None) == viewer_id:
            return _("• **{name}**: busy with your job `{job}`{model}").format(
                name=name, job=getattr(current, "id", "?"), model=model_text
            )
        return _("• **{name}**: busy{model}").format(name=name, model=model_text)
    return _("• **{name}**: up, idle{model}").format(name=name, model=model_text)


def status_text(
    *,
    queued: int,
    running: int,
    backends: Iterable[Any],
    counts: Mapping[str, int] | None = None,
    generated_since_start: int | None = None,
    viewer_id: int | None = None,
    store_ok: bool = True,
    limit: int = CONTENT_LIMIT,
) -> str:
    """/status. ``backends``: objects with ``name``, ``up``, ``current`` (a job with ``id`` and ``user_id``, or
    None) and ``loaded_model`` (``easel.queue.Backend`` fits). ``counts``: jobs by state from the store (None:
    unavailable). ``viewer_id``: who asks; a running job's id is shown to its requester only. ``store_ok``: False
    while Easel's database refuses writes (locked, disk full)."""
    backends = list(backends)
    up = sum(1 for b in backends if b.up)
    lines = [
        _("**Line:** {queued} waiting, {running} being drawn").format(queued=queued, running=running),
        _("**Image servers:** {up} of {total} up").format(up=up, total=len(backends)),
    ]
    if not store_ok:
        lines.append(
            _("**Store unavailable:** Easel can't save new jobs right now; the bot admin has been told in the log.")
        )
    footer: list[str] = []
    if counts is not None:
        delivered = counts.get("delivered", 0)
        extra = [_(_COUNT_STATES[s]).format(n=counts[s]) for s in ("failed", "cancelled") if counts.get(s)]
        footer.append(
            _("**Delivered:** {n} job(s)").format(n=format_number(delivered))
            + (f" ({', '.join(extra)})" if extra else "")
        )
    if generated_since_start is not None:
        footer.append(_("**Drawn since the bot started:** {n}").format(n=format_number(generated_since_start)))
    backend_lines = [_backend_line(b, viewer_id) for b in backends]
    head = "\n".join(lines)
    tail = "\n".join(footer)
    room = limit - len(head) - (len(tail) + 1 if tail else 0) - 1
    middle = fit_lines(backend_lines, _("… and {n} more"), room) if backend_lines else ""
    return "\n".join(part for part in (head, middle, tail) if part)


# ---- /queue and /cancel ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One of the viewer's jobs, for /queue."""

    job_id: str
    prompt: str
    position: int | None  # place in line (1 = next); None: being drawn
    backend: str | None = None  # being drawn on (None while waiting, or not known)
    starts: float | None = None  # expected start (epoch seconds) of a waiting job; None: no estimate


@dataclass(frozen=True, slots=True)
class BackendState:
    """An image server as /queue shows it: up or down, busy or not."""

    name: str
    up: bool
    busy: bool


def queue_text(
    entries: Sequence[QueueEntry],
    *,
    queued: int,
    running: int,
    backends: Sequence[BackendState],
    limit: int = CONTENT_LIMIT,
) -> str:
    """/queue: the viewer's jobs (running ones with their backend, waiting ones with their place and expected
    start), then the line's length and each backend. Too many jobs for one message: the last are left off with a
    count, the line and the backends stay."""
    jobs: list[str] = []
    for e in entries:
        prompt = escape(shorten(e.prompt, 60))
        if e.position is None:
            jobs.append(
                _("`{job}` running on **{backend}**: {prompt}").format(
                    job=e.job_id, backend=escape(e.backend or "?"), prompt=prompt
                )
            )
        else:
            when = _(", starts {when}").format(when=relative_time(e.starts)) if e.starts else ""
            jobs.append(
                _("`{job}` #{n} in line{when}: {prompt}").format(job=e.job_id, n=e.position, when=when, prompt=prompt)
            )
    if not jobs:
        jobs.append(_("You have no jobs waiting."))
    footer = ["\n" + _("Line: {queued} waiting, {running} drawing.").format(queued=queued, running=running)]
    for b in backends:
        state = _("up") if b.up else _("down")
        busy = _(" (busy)") if b.busy else ""
        footer.append(f"• **{escape(b.name)}**: {state}{busy}")
    text = "\n".join([*jobs, *footer])
    if len(text) <= limit:
        return text
    tail = fit_lines(footer, _("… and {n} more"), limit // 2, keep=1)
    head = fit_lines(jobs, _("… and {n} more of your jobs"), limit - len(tail) - 1)
    return f"{head}\n{tail}"


def no_jobs_to_cancel_text() -> str:
    return _("You have no jobs to cancel.")


def unknown_job_text(job_id: str) -> str:
    """/cancel of a job that isn't waiting or running (or isn't the viewer's to see): the id as typed, reduced to
    letters and digits so it can't carry markup."""
    shown = "".join(c for c in job_id if c.isalnum())[:16]
    return _("No waiting or running job `{job}`.").format(job=shown)


def cancel_choice(job_id: str, position: int | None, prompt: str) -> str:
    """A /cancel autocomplete choice (Discord allows 100 characters): id, place in line or "running", prompt."""
    where = _("running") if position is None else f"#{position}"
    return f"{job_id} ({where}): {shorten(prompt, 60)}"[:100]
