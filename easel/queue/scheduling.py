"""Pure scheduling: the fair order, the affinity pick, start estimates and the one work-units formula.

Nothing here touches the store, the webui or the event loop; the queue passes in what it knows.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from easel.backends.base import Capability
from easel.jobs import Job
from easel.request import DrawRequest

DEFAULT_SECONDS_PER_UNIT = 0.15


_LORA_TAG = re.compile(r"<(?:lora|lyco):", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _uses_loras(prompt: str, negative_prompt: str) -> bool:
    return _LORA_TAG.search(prompt) is not None or _LORA_TAG.search(negative_prompt) is not None


def needed_capabilities(request: DrawRequest) -> frozenset[Capability]:
    """What a backend must be able to do to run ``request``: the scheduler gives a job only to a backend with
    all of it (``Backend.capabilities``)."""
    if request.upscale:
        return frozenset({Capability.UPSCALE})
    if request.describe:
        return frozenset({Capability.INTERROGATE})
    needed = {Capability.IMG2IMG if request.img2img else Capability.TXT2IMG}
    if request.outpaint:
        needed.add(Capability.INPAINT)
    if request.model is not None:
        needed.add(Capability.MODELS)
    if request.lora or _uses_loras(request.prompt, request.negative_prompt):
        needed.add(Capability.LORAS)
    if request.face_fix:
        needed.add(Capability.FACE_FIX)
    return frozenset(needed)


def work_units(request: DrawRequest) -> float:
    """How much work a request is: steps × megapixels × images, twice that with hires fix. Estimates multiply
    it by a backend's measured seconds per unit; learning divides a measured time by it."""
    r = request
    return r.steps * (r.width * r.height / 1e6) * r.count * (2.0 if r.hires_fix else 1.0)


def estimate_seconds(request: DrawRequest, seconds_per_unit: float | None) -> float:
    return work_units(request) * (seconds_per_unit or DEFAULT_SECONDS_PER_UNIT)


def learn_seconds_per_unit(previous: float | None, request: DrawRequest, seconds: float) -> float | None:
    """The new moving average after a job of ``request`` took ``seconds`` (``previous`` if it had no work)."""
    units = work_units(request)
    if units <= 0:
        return previous
    sample = seconds / units
    return sample if previous is None else 0.7 * previous + 0.3 * sample


def fair_order(
    jobs: Iterable[Job],
    guild_served: Mapping[int, int],
    user_served: Mapping[int, int],
    tick: int,
) -> list[Job]:
    """The jobs in the order they would start (ignoring model affinity).

    Round robin: the guild served least recently (never served first), then its user served least recently,
    then that user's oldest job; serving a job marks its guild and user served at ``tick``, ``tick + 1``, ...
    (``tick`` must be above every value in the two maps). Ties go to the earliest job (``seq``), then to the
    guild / user first seen in ``seq`` order.

    O(n log n): one lazy heap of guilds and one of users per guild. Every key only grows as jobs are served
    (served ticks increase, a user's next job is younger), so an entry found out of date at the top is pushed
    again with its current key, and the top of a heap whose entries are all current is the true minimum.
    """
    gs = dict(guild_served)
    us = dict(user_served)
    lines: dict[int, dict[int, deque[Job]]] = {}
    for job in sorted(jobs, key=lambda j: j.seq):
        lines.setdefault(job.fairness_guild, {}).setdefault(job.user_id, deque()).append(job)
    guild_index = {g: i for i, g in enumerate(lines)}
    user_heaps: dict[int, list[tuple[int, int, int, int]]] = {}
    for g, users in lines.items():
        heap = [(us.get(u, -1), q[0].seq, i, u) for i, (u, q) in enumerate(users.items())]
        heapq.heapify(heap)
        user_heaps[g] = heap

    def best_user(g: int) -> tuple[int, int, int, int]:
        heap, users = user_heaps[g], lines[g]
        while True:
            top = heap[0]
            q = users.get(top[3])
            if q is None:
                heapq.heappop(heap)
                continue
            current = (us.get(top[3], -1), q[0].seq, top[2], top[3])
            if current == top:
                return top
            heapq.heapreplace(heap, current)

    def guild_entry(g: int) -> tuple[int, int, int, int, int]:
        served, seq, _, _ = best_user(g)
        return (gs.get(g, -1), served, seq, guild_index[g], g)

    guilds = [guild_entry(g) for g in lines]
    heapq.heapify(guilds)
    order: list[Job] = []
    while guilds:
        top = guilds[0]
        g = top[4]
        current = guild_entry(g)
        if current != top:
            heapq.heapreplace(guilds, current)
            continue
        user = best_user(g)[3]
        q = lines[g][user]
        order.append(q.popleft())
        gs[g] = tick
        us[user] = tick
        tick += 1
        if not q:
            del lines[g][user]
            if not lines[g]:
                del lines[g]
                heapq.heappop(guilds)
    return order


def pick_with_affinity(
    order: Sequence[Job],
    *,
    matches_loaded: Callable[[Job], bool],
    max_skips: int,
) -> tuple[Job | None, list[Job]]:
    """From the eligible jobs in fair order, the one to start and the jobs it passes over (their
    ``passed_over`` is the caller's to count). Prefers a job for the loaded model, unless a job before it
    has already been passed over ``max_skips`` times."""
    if not order:
        return None, []
    first = order[0]
    if matches_loaded(first) or first.passed_over >= max_skips:
        return first, []
    for i, job in enumerate(order[1:], start=1):
        if matches_loaded(job):
            if any(j.passed_over >= max_skips for j in order[:i]):
                break
            return job, list(order[:i])
    return first, []


def estimate_starts(
    order: Iterable[Job], free_at: Sequence[float], estimators: Sequence[Callable[[Job], float]]
) -> dict[str, float]:
    """When each job of ``order`` should start: each goes to the backend free soonest (``free_at[i]``, the time
    backend ``i`` is free), which is then busy for ``estimators[i](job)`` seconds more."""
    if not free_at:
        return {}
    heap = [(t, i) for i, t in enumerate(free_at)]
    heapq.heapify(heap)
    starts: dict[str, float] = {}
    for job in order:
        t, i = heap[0]
        starts[job.id] = t
        heapq.heapreplace(heap, (t + estimators[i](job), i))
    return starts
