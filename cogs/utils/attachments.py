"""Downloading a picture someone attached (``/draw init_image``, ``/upscale``, ``/describe``, the context menus): only
from the attachment Discord resolved in the interaction, within a size cap and a time bound, with a one-line refusal
in the member's language when it can't be had."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord

from easel.errors import RequestError
from easel.i18n import format_number
from easel.jobs import new_error_id

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60.0  # seconds for Discord's CDN to hand over one attachment


@dataclass(frozen=True)
class DownloadTexts:
    """The refusals, built when raised (in the current language): ``too_large(size, limit)`` in MiB, ``failed(id)``."""

    too_large: Callable[[str, str], str]
    failed: Callable[[str], str]


def check_size(att: discord.Attachment, max_bytes: int, texts: DownloadTexts) -> None:
    """Refuse an attachment Discord says is larger than ``max_bytes``, before anything is downloaded."""
    if att.size > max_bytes:
        raise RequestError(texts.too_large(format_number(att.size / 2**20, 1), format_number(max_bytes / 2**20, 0)))


async def read_attachment(
    interaction: discord.Interaction[Any], att: discord.Attachment, max_bytes: int, texts: DownloadTexts
) -> bytes:
    """The attachment's bytes: its declared size checked first, the answer deferred (privately) while it downloads,
    the download bounded by ``DOWNLOAD_TIMEOUT``; a failure is a RequestError with an error id."""
    check_size(att, max_bytes, texts)
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)  # the download may take a while
    try:
        async with asyncio.timeout(DOWNLOAD_TIMEOUT):
            data = await att.read()
    except (discord.HTTPException, TimeoutError) as exc:
        error_id = new_error_id()
        log.warning("downloading attachment %s failed: %r [error %s]", att.id, exc, error_id)
        raise RequestError(texts.failed(error_id)) from exc
    if len(data) > max_bytes:  # Discord said less: what came is what counts
        raise RequestError(texts.too_large(format_number(len(data) / 2**20, 1), format_number(max_bytes / 2**20, 0)))
    return data
