"""The pure scheduling functions, without a store or a webui."""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from easel.backends.base import Capability
from easel.jobs import Job
from easel.queue.scheduling import (
    estimate_seconds,
    estimate_starts,
    fair_order,
    learn_seconds_per_unit,
    needed_capabilities,
    pick_with_affinity,
    work_units,
)
from easel.request import DrawRequest


def job(seq: int, user: int, guild: int | None = 1, model: str | None = None, **req: object) -> Job:
    return Job(
        id=f"j{seq}",
        request=DrawRequest(prompt="x", model=model, **req),  # type: ignore[arg-type]
        user_id=user,
        channel_id=1,
        guild_id=guild,
        seq=seq,
    )


def reference_fair_order(
    jobs: list[Job], guild_served: dict[int, int], user_served: dict[int, int], tick: int
) -> list[Job]:
    """The algorithm the queue used before (quadratic): the specification the fast one must match."""
    guild_served = dict(guild_served)
    user_served = dict(user_served)
    lines: dict[int, dict[int, deque[Job]]] = {}
    for j in sorted(jobs, key=lambda j: j.seq):
        lines.setdefault(j.fairness_guild, {}).setdefault(j.user_id, deque()).append(j)
    order: list[Job] = []
    while lines:

        def user_key(item: tuple[int, deque[Job]]) -> tuple[int, int]:
            return (user_served.get(item[0], -1), item[1][0].seq)

        def guild_key(g: int) -> tuple[int, int, int]:
            return (guild_served.get(g, -1), *user_key(min(lines[g].items(), key=user_key)))

        guild = min(lines, key=guild_key)
        user, queue = min(lines[guild].items(), key=user_key)
        order.append(queue.popleft())
        if not queue:
            del lines[guild][user]
            if not lines[guild]:
                del lines[guild]
        guild_served[guild] = tick
        user_served[user] = tick
        tick += 1
    return order


@st.composite
def lines(draw: st.DrawFn) -> tuple[list[Job], dict[int, int], dict[int, int], int]:
    n = draw(st.integers(0, 60))
    seqs = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    jobs = [
        job(seq, draw(st.integers(1, 8)), draw(st.one_of(st.none(), st.integers(1, 4))))
        for seq in seqs  # a user may have jobs in several guilds; None is a DM (guild 0)
    ]
    tick = draw(st.integers(0, 50))
    served = st.dictionaries(st.integers(0, 8), st.integers(0, tick), max_size=8)
    return jobs, draw(served), draw(served), tick + 1


@settings(max_examples=400, deadline=None)
@given(lines())
def test_fair_order_equals_the_reference_algorithm(case: tuple[list[Job], dict[int, int], dict[int, int], int]) -> None:
    jobs, guild_served, user_served, tick = case
    expected = [j.id for j in reference_fair_order(jobs, guild_served, user_served, tick)]
    assert [j.id for j in fair_order(jobs, guild_served, user_served, tick)] == expected


def test_fair_order_round_robin_example() -> None:
    jobs = [job(1, 1), job(2, 1), job(3, 1), job(4, 2), job(5, 3, guild=2)]
    # user 1 was just served in guild 1: guild 2 first, then user 2, then user 1's backlog
    order = fair_order(jobs, {1: 5}, {1: 5}, 6)
    assert [j.id for j in order] == ["j5", "j4", "j1", "j2", "j3"]


def test_fair_order_scales_to_thousands_of_users() -> None:
    # 1,000 users x 3 jobs in 20 guilds: the quadratic algorithm took over a second; this must stay exact.
    jobs = [job(seq, user=seq % 1000, guild=seq % 20) for seq in range(3000)]
    order = fair_order(jobs, {}, {}, 1)
    assert len(order) == 3000 and len({j.id for j in order}) == 3000
    first_round = order[:1000]
    assert len({j.user_id for j in first_round}) == 1000  # every user once before anyone's second job


def test_pick_prefers_loaded_model_with_bounded_skips() -> None:
    a, b, c = job(1, 1, model="other"), job(2, 2, model="other"), job(3, 3, model="loaded")

    def loaded(j: Job) -> bool:
        return j.request.model in (None, "loaded")

    picked, skipped = pick_with_affinity([a, b, c], matches_loaded=loaded, max_skips=2)
    assert picked is c and skipped == [a, b]
    a.passed_over = 2
    picked, skipped = pick_with_affinity([a, b, c], matches_loaded=loaded, max_skips=2)
    assert picked is a and skipped == []
    assert pick_with_affinity([], matches_loaded=loaded, max_skips=2) == (None, [])


def test_one_work_units_formula_for_estimate_and_learning() -> None:
    r = DrawRequest(prompt="x", steps=20, width=1000, height=1000, count=2)
    assert work_units(r) == 40.0
    assert work_units(DrawRequest(prompt="x", steps=20, width=1000, height=1000, count=2, hires_fix=True)) == 80.0
    learned = learn_seconds_per_unit(None, r, 8.0)
    assert learned == 0.2
    assert estimate_seconds(r, learned) == 8.0  # what was learned from a job predicts that job
    assert learn_seconds_per_unit(0.5, r, 8.0) == 0.7 * 0.5 + 0.3 * 0.2


def test_estimate_starts_fills_the_backend_free_soonest() -> None:
    jobs = [job(1, 1), job(2, 2), job(3, 3)]
    starts = estimate_starts(jobs, [100.0, 105.0], [lambda j: 10.0, lambda j: 1.0])
    assert starts == {"j1": 100.0, "j2": 105.0, "j3": 106.0}
    assert estimate_starts(jobs, [], []) == {}


def test_needed_capabilities_from_the_request() -> None:
    assert needed_capabilities(DrawRequest(prompt="x")) == {Capability.TXT2IMG}
    assert needed_capabilities(DrawRequest(prompt="x", img2img=True)) == {Capability.IMG2IMG}
    assert needed_capabilities(DrawRequest(prompt="x", model="sdxl")) == {Capability.TXT2IMG, Capability.MODELS}
    assert needed_capabilities(DrawRequest(prompt="x", upscale=True, upscaler="R-ESRGAN 4x+")) == {Capability.UPSCALE}
    with_lora = DrawRequest(prompt="x <LoRA:detail:0.5>")
    assert needed_capabilities(with_lora) == {Capability.TXT2IMG, Capability.LORAS}
    assert Capability.LORAS in needed_capabilities(DrawRequest(prompt="x", negative_prompt="<lora:bad:1>"))
    assert Capability.LORAS not in needed_capabilities(DrawRequest(prompt="lora: a word, not a tag"))
