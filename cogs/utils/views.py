"""The buttons and the modal under Easel's messages.

Buttons are ``DynamicItem``s: the custom_id carries the action, the job id and the image index, and the settings
come from the store, so they keep working after a restart and weeks later (while ``keep_results_days`` keeps the
images). What a button does lives in the Results cog, reached through :class:`ResultHandler` (a cog is never
imported from here).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import discord

from cogs.utils.errors import guarded
from easel.i18n import N_, _
from easel.jobs import Job

if TYPE_CHECKING:
    from bot import EaselBot

ACTIONS = ("reroll", "vary", "remix", "upscale", "info", "delete", "cancel", "original")
_LABELS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": (N_("Reroll"), "🎲", discord.ButtonStyle.secondary),
    "vary": (N_("Vary"), "🔀", discord.ButtonStyle.secondary),
    "remix": (N_("Remix"), "✏️", discord.ButtonStyle.secondary),
    "upscale": (N_("Upscale"), "⬆️", discord.ButtonStyle.secondary),
    "info": (N_("Info"), "ℹ️", discord.ButtonStyle.secondary),
    "delete": (N_("Delete"), "🗑️", discord.ButtonStyle.danger),
    "cancel": (N_("Cancel"), "✖️", discord.ButtonStyle.danger),
    # Under a result the image check blurred: the requester gets the originals privately (from the store).
    "original": (N_("Show original"), "👁️", discord.ButtonStyle.secondary),
}
RESULTS_COG = "Results"
TOOLS_COG = "Tools"
# The image tools' buttons (cogs/tools.py): zoom out and pan under a result, the per-image chooser of a batch,
# a custom zoom, and Draw this under a description.
TOOL_ACTIONS = ("zoom15", "zoom2", "zoomx", "left", "right", "up", "down", "pick", "drawthis")
_TOOL_LABELS: dict[str, tuple[str, str | None, discord.ButtonStyle]] = {
    "zoom15": (N_("Zoom out 1.5×"), "🔍", discord.ButtonStyle.secondary),
    "zoom2": (N_("Zoom out 2×"), "🔍", discord.ButtonStyle.secondary),
    "zoomx": (N_("Custom zoom"), "🔧", discord.ButtonStyle.secondary),
    "left": ("", "⬅️", discord.ButtonStyle.secondary),
    "right": ("", "➡️", discord.ButtonStyle.secondary),
    "up": ("", "⬆️", discord.ButtonStyle.secondary),
    "down": ("", "⬇️", discord.ButtonStyle.secondary),
    "pick": (N_("Zoom"), "🔍", discord.ButtonStyle.secondary),
    "drawthis": (N_("Draw this"), "🎨", discord.ButtonStyle.primary),
}
OUTPAINT_ACTIONS = ("zoom15", "zoom2", "zoomx", "left", "right", "up", "down")


@runtime_checkable
class ResultHandler(Protocol):
    """What the result buttons call (the Results cog)."""

    async def handle(
        self, interaction: discord.Interaction[EaselBot], action: str, job_id: str, index: int
    ) -> None: ...

    async def draw_again(
        self, interaction: discord.Interaction[EaselBot], channel_id: int, message_id: int
    ) -> None: ...


def _handler(interaction: discord.Interaction[EaselBot]) -> ResultHandler:
    cog = interaction.client.get_cog(RESULTS_COG)
    if not isinstance(cog, ResultHandler):
        raise RuntimeError(f"the {RESULTS_COG} cog is not loaded")
    return cog


class ResultAction(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"easel:(?P<action>[a-z]+):(?P<job>[a-z0-9]{4,16}):(?P<index>\d{1,2})",
):
    def __init__(self, action: str, job_id: str, index: int = 0, *, numbered: bool = False, row: int | None = None):
        label, emoji, style = _LABELS[action]
        label = _(label)
        if numbered:
            label = f"{label} {index + 1}"
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=None if numbered else emoji,
                style=style,
                custom_id=f"easel:{action}:{job_id}:{index}",
                row=row,
            )
        )
        self.action, self.job_id, self.index = action, job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[EaselBot], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResultAction:
        action = match["action"]
        if action not in ACTIONS:
            raise ValueError(action)
        return cls(action, match["job"], int(match["index"]))

    @guarded
    async def callback(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        await _handler(interaction).handle(interaction, self.action, self.job_id, self.index)


class AgainButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"easel:again:(?P<channel>\d{1,20}):(?P<message>\d{1,20})",
):
    """ "Draw this again" under Image info: points at the message whose image carries the settings."""

    def __init__(self, channel_id: int, message_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Draw this again"),
                emoji="🎨",
                style=discord.ButtonStyle.primary,
                custom_id=f"easel:again:{channel_id}:{message_id}",
            )
        )
        self.channel_id, self.message_id = channel_id, message_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[EaselBot], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AgainButton:
        return cls(int(match["channel"]), int(match["message"]))

    @guarded
    async def callback(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        await _handler(interaction).draw_again(interaction, self.channel_id, self.message_id)


@runtime_checkable
class ToolHandler(Protocol):
    """What the image tools' buttons call (the Tools cog)."""

    async def tool(self, interaction: discord.Interaction[EaselBot], action: str, job_id: str, index: int) -> None: ...


class ToolAction(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"easel:tool:(?P<action>[a-z0-9]+):(?P<job>[a-z0-9]{4,16}):(?P<index>\d{1,2})",
):
    """A tool button on a job's result: zoom out / pan image ``index``, choose the tool for image ``index`` of a
    batch, or Draw this under a description."""

    def __init__(self, action: str, job_id: str, index: int = 0, *, numbered: bool = False, row: int | None = None):
        label, emoji, style = _TOOL_LABELS[action]
        label = _(label) if label else ""
        if numbered:
            label, emoji = f"{label} {index + 1}", None
        super().__init__(
            discord.ui.Button(
                label=label or None,
                emoji=emoji,
                style=style,
                custom_id=f"easel:tool:{action}:{job_id}:{index}",
                row=row,
            )
        )
        self.action, self.job_id, self.index = action, job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[EaselBot], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ToolAction:
        action = match["action"]
        if action not in TOOL_ACTIONS:
            raise ValueError(action)
        return cls(action, match["job"], int(match["index"]))

    @guarded
    async def callback(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        cog = interaction.client.get_cog(TOOLS_COG)
        if not isinstance(cog, ToolHandler):
            raise RuntimeError(f"the {TOOLS_COG} cog is not loaded")
        await cog.tool(interaction, self.action, self.job_id, self.index)


def add_outpaint_buttons(view: discord.ui.View, job: Job, index: int, *, first_row: int) -> None:
    """Zoom out 1.5x, 2x and Custom zoom on ``first_row``, the four pans on the next."""
    for action in ("zoom15", "zoom2", "zoomx"):
        view.add_item(ToolAction(action, job.id, index, row=first_row))
    for action in ("left", "right", "up", "down"):
        view.add_item(ToolAction(action, job.id, index, row=first_row + 1))


def outpaint_view(job: Job, index: int) -> discord.ui.View:
    """The zoom and pan buttons for one image of a batch (sent privately by its "Zoom n" button)."""
    view = discord.ui.View(timeout=None)
    add_outpaint_buttons(view, job, index, first_row=0)
    return view


def describe_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ToolAction("drawthis", job.id))
    return view


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (ResultAction, AgainButton, ToolAction)


def result_view(job: Job, images: int | Sequence[int], *, original: bool = False) -> discord.ui.View:
    """Buttons under a result. ``images``: how many (indexes 0..n-1), or the indexes of the images posted (the image
    check may leave some out). One image: one row of actions. Several: Reroll/Remix/Info/Delete, then numbered
    Upscale and Vary buttons per image (up to 10 images in 5 rows), and for up to 5 images a numbered Zoom button
    each (it offers that image's zoom and pan privately). One image gets Zoom out 1.5x / 2x / Custom zoom and the
    four pans itself. ``original``: a "Show original" button (the image check blurred some)."""
    indexes = list(range(images)) if isinstance(images, int) else list(images)
    view = discord.ui.View(timeout=None)
    if job.request.upscale:
        for action in ("info", "delete"):
            view.add_item(ResultAction(action, job.id, row=0))
        if original:
            view.add_item(ResultAction("original", job.id, row=0))
        return view
    if len(indexes) == 1:
        for action in ("reroll", "vary", "remix", "upscale", "info"):
            view.add_item(ResultAction(action, job.id, indexes[0], row=0))
        view.add_item(ResultAction("delete", job.id, row=1))
        if original:
            view.add_item(ResultAction("original", job.id, row=1))
        add_outpaint_buttons(view, job, indexes[0], first_row=2)
        return view
    for action in ("reroll", "remix", "info", "delete"):
        view.add_item(ResultAction(action, job.id, row=0))
    if original:
        view.add_item(ResultAction("original", job.id, row=0))
    for n, i in enumerate(indexes[:10]):
        block = 1 + (n // 5) * 2
        view.add_item(ResultAction("upscale", job.id, i, numbered=True, row=block))
        view.add_item(ResultAction("vary", job.id, i, numbered=True, row=block + 1))
    if len(indexes) <= 5:  # rows 1 and 2 hold Upscale and Vary: the third the per-image Zoom
        for i in indexes:
            view.add_item(ToolAction("pick", job.id, i, numbered=True, row=3))
    return view


def cancel_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ResultAction("cancel", job.id))
    return view


def again_view(channel_id: int, message_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(AgainButton(channel_id, message_id))
    return view


RemixSubmit = Callable[[discord.Interaction["EaselBot"], Job, str, str], Awaitable[None]]


class RemixModal(discord.ui.Modal, title=N_("Remix")):
    """The prompts of a job to edit. discord.py finds an open modal by its custom_id alone, so every opening gets
    its own (two people, or one person twice, remixing the same job each get their submission)."""

    def __init__(self, job: Job, submit: RemixSubmit) -> None:
        super().__init__(
            title=_("Remix"), timeout=15 * 60, custom_id=f"easel:remixmodal:{job.id}:{secrets.token_hex(6)}"
        )
        self.job, self._submit = job, submit
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=_("Prompt"),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:4000],
            max_length=4000,
        )
        self.negative: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=_("Negative prompt"),
            custom_id="negative_prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.negative_prompt[:4000] or None,
            required=False,
            max_length=4000,
        )
        self.add_item(self.prompt)
        self.add_item(self.negative)

    @guarded
    async def on_submit(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        await self._submit(interaction, self.job, self.prompt.value, self.negative.value)
