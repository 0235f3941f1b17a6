"""The refusals: what a person asked for can't be done, and the message (one line) says what to change.

Every refusal is a :class:`RequestError`; the interaction error handler answers it privately as it is. Anything
else raised while answering an interaction is a bug and gets an error id.
"""

from __future__ import annotations


class RequestError(ValueError):
    """A bad option: the message says what to change. Nothing is queued."""


class PolicyError(RequestError):
    """A refused setting or a refused draw: the message is one line for the user, and never echoes a banned word."""


class QueueFull(RequestError):
    """The user (or the server, or the whole line) has too many jobs waiting, or is in cooldown."""
