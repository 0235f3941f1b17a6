"""The A1111-family webui backend (AUTOMATIC1111, Forge, SD.Next): ``WebuiClient`` and what it returns."""

from easel.backends.webui.client import *  # noqa: F403
from easel.backends.webui.client import __all__ as _client_all
from easel.backends.webui.client import error_message, image_kind, safe_url, scrub_credentials, url_credentials

__all__ = [*_client_all, "error_message", "image_kind", "safe_url", "scrub_credentials", "url_credentials"]
