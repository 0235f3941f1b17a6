"""The errors every backend raises (the A1111-family webui and the Horde alike).

``retryable`` tells the worker whether trying again (later, or on another backend) makes sense; a client never
retries by itself. The classes keep their historical ``Webui*`` names; ``BackendError`` is the base's other name.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BackendError",
    "WebuiAuthError",
    "WebuiError",
    "WebuiNotFound",
    "WebuiRequestError",
    "WebuiResponseTooLarge",
    "WebuiServerError",
    "WebuiTimeout",
    "WebuiUnavailable",
    "WrongModel",
]


class WebuiError(Exception):
    """Base class. ``message`` is human readable (the webui's own words when it gave any)."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, backend: str = "webui", route: str = "") -> None:
        self.message = message
        self.status = status
        self.backend = backend
        self.route = route
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.backend} {self.route}".strip()
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}{status}: {self.message}" if where else f"{self.message}{status}"


class WebuiUnavailable(WebuiError):
    """Connection refused, DNS failure, connect timeout, server disconnected: the webui is not reachable."""

    retryable = True


class WebuiTimeout(WebuiError):
    """No answer within the read timeout (a hung or very slow webui)."""

    retryable = True


class WebuiServerError(WebuiError):
    """HTTP 5xx (also a 2xx whose body is not the expected JSON)."""

    retryable = True


class WebuiResponseTooLarge(WebuiError):
    """The answer body is larger than the client's cap: reading stopped there. Not retryable: the same request
    would produce the same answer."""

    retryable = False


class WebuiRequestError(WebuiError):
    """HTTP 4xx: the request itself is wrong (validation, unknown script, missing init image, ...)."""

    retryable = False


class WebuiAuthError(WebuiRequestError):
    """HTTP 401/403: wrong or missing API credentials."""


class WebuiNotFound(WebuiRequestError):
    """HTTP 404: unknown route (API not enabled, older webui) or a missing resource."""


class WrongModel(WebuiError):
    """The backend drew with another model than the one asked for (an unknown checkpoint is dropped silently
    by A1111, Forge and SD.Next alike). Not retryable there: it does not have (or cannot load) that model.
    ``asked`` and ``used`` are the two names."""

    retryable = False

    def __init__(self, message: str, *, asked: str, used: str, backend: str = "webui", route: str = "") -> None:
        super().__init__(message, backend=backend, route=route)
        self.asked = asked
        self.used = used


BackendError = WebuiError
