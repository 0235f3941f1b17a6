"""Content safety: rules no server setting turns off, checks on what Easel posts and accepts, and how a server's
admins hear about them (no Discord import).

- :mod:`easel.safety.images`: the image check (a classifier interface, NudeNet on the CPU, optional).
- :mod:`easel.safety.prompts`: prompts that must never be drawn (minors + sexual content), checked by
  :class:`easel.admission.Admission` on every way into the queue.
- :class:`AdminNotice` and :class:`Notifier`: "tell this server's admins" — one line per refused prompt or flagged
  image (who, where, which job if any, which rule; never the prompt's words, never the image). The Discord side
  (``cogs.utils.notices``) posts it to the server's ``log_channel``; without one, nothing is posted (the log line
  of logger ``easel.safety`` is always written).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from easel.i18n import _

__all__ = ["AdminNotice", "NoticeKind", "Notices", "Notifier", "NullNotifier", "log"]

log = logging.getLogger("easel.safety")

_RULE = re.compile(r"^[a-z0-9_]{1,40}$")


class NoticeKind(StrEnum):
    PROMPT_REFUSED = "prompt_refused"  # an ask refused before anything was queued
    IMAGE_FLAGGED = "image_flagged"  # a generated image flagged (spoilered, blurred or held back by the rule)


@dataclass(frozen=True)
class AdminNotice:
    """One event for a server's admins. ``rule``: a short name such as ``minors_sexual`` (also the label of
    ``easel_refusals_total``); ``job_id``: None for an ask that was never queued."""

    kind: NoticeKind
    rule: str
    user_id: int
    channel_id: int | None
    job_id: str | None = None

    def __post_init__(self) -> None:
        if not _RULE.match(self.rule):
            raise ValueError(f"a rule name is 1-40 of a-z, 0-9 and _ (got {self.rule!r})")
        if self.job_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.job_id):
            raise ValueError("a job id is 1-64 of A-Z, a-z, 0-9, _ and -")

    def line(self) -> str:
        """The one line posted to the log channel: mentions (never pinging), the job id, the rule; no content."""
        where = _(" in <#{channel}>").format(channel=self.channel_id) if self.channel_id else _(" in a DM")
        if self.kind is NoticeKind.PROMPT_REFUSED:
            job = _(" (job `{job}`)").format(job=self.job_id) if self.job_id else _(" (nothing was queued)")
            return _("Safety: refused a prompt from <@{user}>{where}{job}: rule `{rule}`.").format(
                user=self.user_id, where=where, job=job, rule=self.rule
            )
        job = _(" of job `{job}`").format(job=self.job_id) if self.job_id else ""
        return _("Safety: the image check flagged an image{job} from <@{user}>{where}: rule `{rule}`.").format(
            job=job, user=self.user_id, where=where, rule=self.rule
        )


class Notifier(Protocol):
    """Tells a server's admins. Must not raise: a failure is logged by the implementation, and the ask or job it
    is about carries on (refused, or held back) as it would without it."""

    async def notify(self, guild_id: int, notice: AdminNotice) -> None: ...


class Notices:
    """Sends notices in the background, so a refusal or a post never waits for Discord; a notifier that raises
    anyway is logged. ``drain()`` waits for what is still being sent (shutdown, tests)."""

    def __init__(self, notifier: Notifier | None) -> None:
        self.notifier = notifier
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, guild_id: int | None, notice: AdminNotice) -> None:
        if self.notifier is None or guild_id is None:  # no Discord side, or a DM: no server to tell
            return
        task = asyncio.create_task(self._send(self.notifier, guild_id, notice))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send(notifier: Notifier, guild_id: int, notice: AdminNotice) -> None:
        try:
            await notifier.notify(guild_id, notice)
        except Exception:  # a Notifier must not raise; one that does is logged, never the user's problem
            log.exception("safety: telling the admins of guild %s failed", guild_id)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class NullNotifier:
    """Tells no one (tests, and a bot without a Discord side)."""

    async def notify(self, guild_id: int, notice: AdminNotice) -> None:
        return None
