"""/queue and /status lines for the AI Horde."""

from __future__ import annotations

from types import SimpleNamespace

from easel.backends.base import JobProgress
from easel.backends.horde.client import HordeState
from easel.texts.commands import BackendState, QueueEntry, queue_text, status_text


def test_a_job_waiting_in_the_hordes_line_shows_its_place_and_wait() -> None:
    waiting = QueueEntry(
        "abc", "a fox", None, "horde", remote=JobProgress(known=True, queued=True, eta=75.0, queue_position=4)
    )
    drawing = QueueEntry("def", "a cat", None, "horde", remote=JobProgress(known=True, active=True, fraction=0.5))
    text = queue_text([waiting, drawing], queued=0, running=2, backends=[BackendState("horde", True, True)])
    assert "`abc` waiting on **horde**, 4 ahead of it in its line, about" in text
    assert "`def` running on **horde**: a cat" in text


def test_status_line_of_the_horde() -> None:
    up = SimpleNamespace(name="horde", up=True, horde_state=HordeState(False, 1234.4, ("A", "B", "C", "D"), 2))
    anon = SimpleNamespace(name="h2", up=True, horde_state=HordeState(True, None, (), 0))
    down = SimpleNamespace(name="h3", up=False, horde_state=HordeState(True, None, (), 0))
    text = status_text(queued=0, running=0, backends=[up, anon, down])
    assert "**horde** (AI Horde): up, 1,234 kudos, 2 request(s) in flight; models: A, B, C and 1 more" in text
    assert "**h2** (AI Horde): up, anonymous key, 0 request(s) in flight; models: none with workers" in text
    assert "**h3** (AI Horde): not reachable" in text
