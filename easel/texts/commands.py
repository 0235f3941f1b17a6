"""Text for /help, /models, /status, /queue and /cancel. Pure functions over plain values: no Discord, no I/O.

Every text fits Discord's 2000-character message content; names that came from a webui or the config are
escaped so markdown in them cannot change the layout. A backend's answers show whether it is up and busy, never
why it is down (an address, an exception text: that is in the log), and never someone else's job id.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from easel.config import Config
from easel.i18n import N_, _, format_number
from easel.options import OPTIONS, CatalogView, help_line
from easel.texts.markup import CONTENT_LIMIT, EMBED_LIMIT, duration, escape, fit_lines, relative_time, shorten

__all__ = [
    "BackendState",
    "QueueEntry",
    "cancel_choice",
    "help_options_text",
    "help_text",
    "models_text",
    "no_jobs_to_cancel_text",
    "queue_text",
    "status_text",
    "unknown_job_text",
]

_COUNT_STATES = {"failed": N_("{n} failed"), "cancelled": N_("{n} cancelled")}


def help_text(config: Config) -> str:
    """What /help says first (the message, up to 2000 characters): every command and this server's per-user
    limits; the /draw options follow in :func:`help_options_text`."""
    lim = config.limits
    per_user = _("You can have {n} job(s) waiting at a time").format(n=lim.max_queued_per_user)
    if lim.cooldown_seconds:
        per_user += _(", and draw once every {seconds} s").format(seconds=format_number(lim.cooldown_seconds))
    lines = [
        _("**Easel** draws pictures with Stable Diffusion. Jobs wait in a fair line: everyone gets a turn."),
        "",
        _("**Commands**"),
        _("`/draw` draw an image; the result is posted in the channel (its options: below)"),
        _("`/queue` your jobs, their place in line and when they should start"),
        _("`/cancel` cancel your latest job, or the one you name"),
        _("`/models` the models, LoRAs and embeddings you can draw with"),
        _("`/preset` save options and draw with them (`/draw preset:`)"),
        _("`/upscale`, `/describe` any picture (or a message → Apps); under a drawing 🔍 zoom out, ⬅️➡️⬆️⬇️ pan"),
        _("`/status` the line, what is being drawn, each image server"),
        _("`/help` this text"),
        "",
        _("{per_user}. The settings of every image are written in its PNG file.").format(per_user=per_user),
    ]
    return fit_lines(lines, "…", keep=len(lines))


def help_options_text(config: Config) -> str:
    """The second part of /help (an embed: up to 4096 characters): every /draw option from the option table, with
    this server's defaults and limits."""
    d, lim = config.defaults, config.limits
    size_limit = _("up to {width}x{height}").format(width=lim.max_width, height=lim.max_height)
    if lim.max_pixels < lim.max_width * lim.max_height:
        size_limit += _(", {pixels} pixels at most").format(pixels=format_number(lim.max_pixels))
    for width in (60, 30, 16):  # long default names are cut shorter rather than the end of the text
        lines = [
            _("**/draw options** (only `prompt` is required)"),
            *(help_line(o, d, lim, show=lambda v, w=width: escape(shorten(str(v), w))) for o in OPTIONS if o.help),
            _("Images: {size} (default {width}x{height}).").format(size=size_limit, width=d.width, height=d.height),
        ]
        if len("\n".join(lines)) <= EMBED_LIMIT:
            break
    return fit_lines(lines, "…", EMBED_LIMIT, keep=len(lines))


def models_text(
    catalog: CatalogView,
    backend_names: Sequence[str],
    *,
    loaded: Mapping[str, str | None] | None = None,
    limit: int = CONTENT_LIMIT,
    labels: Mapping[str, str] | None = None,
    hidden: Collection[str] = (),
) -> str:
    """/models: every model, with the backends that have it when there is more than one backend. ``labels``: a
    model's display name and description (its profile, easel.texts.presets.model_label); ``hidden``: left out."""
    names = [n for n in catalog.model_names() if n not in hidden]
    if not names:
        return _(
            "No models known yet: no image server has answered. Try again in a minute; if it stays like this, "
            "the bot admin can run `python bot.py check`."
        )
    loaded = loaded or {}
    several = len(backend_names) > 1
    extra = _extra_networks_text(catalog, backend_names, limit // 3)
    if extra:
        limit -= len(extra) + 1
    lines = [_("**{n} model(s)** (pick one with /draw's `model` option; it autocompletes):").format(n=len(names))]
    for name in names:
        where = catalog.backends_with_model(name)
        line = f"• {escape(shorten((labels or {}).get(name, name), 200))}"
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
    text = fit_lines(lines, _("… and {n} more: type in /draw's `model` option to search them all."), limit, keep=1)
    return f"{text}\n{extra}" if extra else text


def _names_line(head: str, names: Sequence[str], where: Any, backend_names: Sequence[str], room: int) -> str:
    """``head`` then the names, comma-separated; a name not on every backend says which have it. Cut to ``room``
    characters with a count of the rest."""
    every = set(backend_names)
    parts = []
    for name in names:
        part = escape(shorten(name, 60))
        have = where(name)
        if len(every) > 1 and set(have) != every:
            part += f" ({', '.join(escape(shorten(b, 30)) for b in have)})"
        parts.append(part)
    line = head
    for i, part in enumerate(parts):
        candidate = f"{line}{', ' if i else ' '}{part}"
        left = len(parts) - i - 1  # after this one
        if len(candidate) + (len(_(" … and {n} more").format(n=left)) if left else 0) > room:
            return line + _(" … and {n} more").format(n=len(parts) - i)
        line = candidate
    return line


def _extra_networks_text(catalog: CatalogView, backend_names: Sequence[str], room: int) -> str:
    """The LoRAs and the embeddings (textual inversions) the backends list, for /models ("" = none)."""
    lines = []
    lora_names = [i.name for i in catalog.lora_infos()]
    if lora_names:
        head = _("**{n} LoRA(s)** (/draw's `lora` option; it autocompletes):").format(n=len(lora_names))
        lines.append(_names_line(head, lora_names, catalog.backends_with_lora, backend_names, room // 2))
    embeddings = catalog.embedding_names()
    if embeddings:
        head = _("**{n} embedding(s)** (write the name in a prompt or negative prompt):").format(n=len(embeddings))
        lines.append(_names_line(head, embeddings, catalog.backends_with_embedding, backend_names, room // 2))
    return "\n".join(lines)


def _backend_line(b: Any, viewer_id: int | None = None) -> str:
    """One backend for /status: up/idle, busy, or down. Never why it is down (an address, an exception text: that
    is in the log) and never someone else's job: only the viewer's own job id is shown."""
    name = escape(shorten(str(b.name), 40))
    model = getattr(b, "loaded_model", None)
    model_text = _(", model {model}").format(model=escape(shorten(model, 60))) if model else ""
    horde = getattr(b, "horde_state", None)
    if horde is not None:
        return _horde_line(name, b.up, horde)
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


def _horde_line(name: str, up: bool, horde: Any) -> str:
    """The AI Horde in /status: reachable or not, the key's kudos, the models Easel uses there, requests in flight."""
    if not up:
        return _("• **{name}** (AI Horde): not reachable").format(name=name)
    key = _("anonymous key") if horde.anonymous else _("{kudos} kudos").format(kudos=f"{horde.kudos or 0:,.0f}")
    models = ", ".join(escape(shorten(m, 40)) for m in horde.models[:3]) or _("none with workers")
    if len(horde.models) > 3:
        models += _(" and {n} more").format(n=len(horde.models) - 3)
    return _("• **{name}** (AI Horde): up, {key}, {n} request(s) in flight; models: {models}").format(
        name=name, key=key, n=horde.in_flight, models=models
    )


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
    remote: Any = None  # a running job's progress in its backend's own line (the AI Horde's JobProgress)


@dataclass(frozen=True, slots=True)
class BackendState:
    """An image server as /queue shows it: up or down, busy or not."""

    name: str
    up: bool
    busy: bool


def _horde_queue_line(e: QueueEntry, prompt: str) -> str:
    """A job waiting in the AI Horde's own line: its place there and the Horde's wait time."""
    place = e.remote.queue_position
    if not isinstance(place, int):
        where = ""
    elif place <= 0:
        where = _(", next in its line")
    else:
        where = _(", {n} ahead of it in its line").format(n=place)
    eta = e.remote.eta
    left = _(", about {t} left").format(t=duration(eta)) if eta else ""
    return _("`{job}` waiting on **{backend}**{where}{left}: {prompt}").format(
        job=e.job_id, backend=escape(e.backend or "?"), where=where, left=left, prompt=prompt
    )


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
        prompt = escape(shorten(e.prompt, 60)) or _("(an image tool: upscale, describe)")
        if e.position is None and getattr(e.remote, "queued", False):
            jobs.append(_horde_queue_line(e, prompt))
        elif e.position is None:
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
    what = shorten(prompt, 60) or _("an image tool")
    return f"{job_id} ({where}): {what}"[:100]
