"""The A1111-family webui backend (AUTOMATIC1111, Forge, SD.Next): ``WebuiClient`` and what it returns.

``client`` is the client; ``parsing`` reads the webui's answers; ``values`` holds the webui-only answers (progress,
flavour). The errors (``easel.backends.errors``), the shared values and the protocol (``easel.backends.base``) and
the URL-credential helpers (``easel.backends.credentials``) are re-exported here for the code that imported them
from the one-file client.
"""

from easel.backends.base import GenerationResult, ModelInfo, PromptStyle
from easel.backends.credentials import safe_url, scrub_credentials, url_credentials
from easel.backends.errors import (
    WebuiAuthError,
    WebuiError,
    WebuiNotFound,
    WebuiRequestError,
    WebuiResponseTooLarge,
    WebuiServerError,
    WebuiTimeout,
    WebuiUnavailable,
    WrongModel,
)
from easel.backends.webui.client import WebuiClient
from easel.backends.webui.parsing import error_message, image_kind
from easel.backends.webui.values import BackendInfo, Progress, TaskProgress
from easel.options import Flavor

__all__ = [
    "BackendInfo",
    "Flavor",
    "GenerationResult",
    "ModelInfo",
    "Progress",
    "PromptStyle",
    "TaskProgress",
    "WebuiAuthError",
    "WebuiClient",
    "WebuiError",
    "WebuiNotFound",
    "WebuiRequestError",
    "WebuiResponseTooLarge",
    "WebuiServerError",
    "WebuiTimeout",
    "WebuiUnavailable",
    "WrongModel",
    "error_message",
    "image_kind",
    "safe_url",
    "scrub_credentials",
    "url_credentials",
]
