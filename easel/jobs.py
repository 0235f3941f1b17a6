"""The job: one /draw request on its way from the queue to the channel."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from easel.request import DrawRequest

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_id(length: int = 8) -> str:
    """Short, unambiguous, random id (jobs, error ids)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_error_id() -> str:
    return new_id(6).upper()


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    GENERATED = "generated"  # images are in the store, not yet posted
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Reply:
    """How to reach the requester's first (ephemeral) answer: the interaction webhook, valid for 15 minutes."""

    application_id: int
    token: str = field(repr=False)
    created_at: float

    def valid(self, now: float | None = None, margin: float = 60.0) -> bool:
        return (now or time.time()) < self.created_at + 15 * 60 - margin


@dataclass
class Job:
    id: str
    request: DrawRequest
    user_id: int
    channel_id: int
    guild_id: int | None = None
    state: JobState = JobState.QUEUED
    seq: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    backend: str | None = None
    attempts: int = 0
    error: str | None = None
    error_id: str | None = None
    reply: Reply | None = None
    result_message_id: int | None = None
    passed_over: int = 0
    elapsed: float | None = None
    is_moderated_cancel: bool = False
    # the backend's own id of this job's request (the AI Horde's), stored once the backend accepted it
    remote_id: str | None = None
    locale: str = "en-US"  # the requester's language (their private answers)
    public_locale: str | None = None  # the language of the public result (the server's); None: English
    # backends this job stalled on (in memory only): it is retried elsewhere, not there again
    avoid_backends: set[str] = field(default_factory=set)

    @property
    def fairness_guild(self) -> int:
        return self.guild_id or 0

    @property
    def nonce(self) -> str:
        """Stable per job: Discord drops a second message with the same nonce (``enforce_nonce``)."""
        return f"easel-{self.id}"[:25]


@dataclass(frozen=True)
class StoredImage:
    index: int
    data: bytes = field(repr=False)
    infotext: str
    seed: int
