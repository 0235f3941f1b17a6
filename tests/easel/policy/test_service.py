"""easel/policy/service.py: the settings service on a real store."""

from __future__ import annotations

import pytest

from easel.policy import (
    PolicyError,
    PolicyService,
    check_prompt,
    user_limits,
)
from easel.store import Store
from tests.easel.policy.conftest import ADMIN, CFG, CHAN, GUILD, OTHER, THREAD

# ---- the service, on a real store -----------------------------------------------------------------------


async def test_service_set_show_reset_and_cache(store: Store) -> None:
    svc = PolicyService(store, CFG)
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 25
    await svc.set_text(GUILD, "steps", "30", by=ADMIN)
    await svc.set_text(GUILD, "steps", "12", by=ADMIN, channel_id=CHAN)
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 12
    assert (await svc.for_draw(GUILD, OTHER)).defaults.steps == 30
    assert (await svc.for_draw(GUILD, THREAD, CHAN)).defaults.steps == 12  # thread inherits its parent
    assert (await svc.for_draw(None, CHAN)).defaults.steps == 25  # DMs: global
    assert await store.get_settings("guild", GUILD) == {"steps": 30}

    # cached: a write behind the service's back is not seen until invalidated
    await store.set_setting("guild", GUILD, "steps", 40)
    assert (await svc.for_draw(GUILD, OTHER)).defaults.steps == 30
    svc.invalidate(GUILD)
    assert (await svc.for_draw(GUILD, OTHER)).defaults.steps == 40

    assert await svc.reset(GUILD, "steps", by=ADMIN, channel_id=CHAN) == 1
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 40
    await svc.set_text(GUILD, "max_count", "2", by=ADMIN)
    assert await svc.reset(GUILD, by=ADMIN) == 2
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 25

    # survives a new service (the store is the truth)
    await svc.set_text(GUILD, "nsfw", "refuse", by=ADMIN)
    assert (await PolicyService(store, CFG).for_draw(GUILD, CHAN)).nsfw == "refuse"


async def test_service_refuses_and_logs(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    svc = PolicyService(store, CFG)
    caplog.set_level("INFO", logger="easel.policy")
    with pytest.raises(PolicyError, match="global ceiling"):
        await svc.set_text(GUILD, "max_steps", "99", by=ADMIN)
    with pytest.raises(PolicyError, match="whole server"):
        await svc.set_text(GUILD, "nsfw", "refuse", by=ADMIN, channel_id=CHAN)
    await svc.set_text(GUILD, "max_steps", "20", by=ADMIN)
    with pytest.raises(PolicyError, match="steps must be between 1 and 20"):
        await svc.set_text(GUILD, "steps", "30", by=ADMIN)
    assert f"guild {GUILD} channel None user {ADMIN} refused max_steps" in caplog.text
    assert f"guild {GUILD} channel None user {ADMIN} set max_steps = 20" in caplog.text
    assert await store.get_settings("guild", GUILD) == {"max_steps": 20}


async def test_service_lists(store: Store) -> None:
    svc = PolicyService(store, CFG)
    assert await svc.add_items(GUILD, "banned_words", ["Cat", "dog"], by=ADMIN) == ("cat", "dog")
    assert await svc.add_items(GUILD, "banned_words", ["CAT", "re:x\\d"], by=ADMIN) == ("cat", "dog", "re:x\\d")
    assert await svc.remove_items(GUILD, "banned_words", ["DOG"], by=ADMIN) == ("cat", "re:x\\d")
    with pytest.raises(PolicyError, match="Not in"):
        await svc.remove_items(GUILD, "banned_words", ["emu"], by=ADMIN)
    await svc.add_items(GUILD, "allowed_channels", [CHAN, OTHER], by=ADMIN)
    assert await svc.remove_items(GUILD, "allowed_channels", [CHAN, OTHER], by=ADMIN) == ()
    assert "allowed_channels" not in await store.get_settings("guild", GUILD)
    eff = await svc.for_draw(GUILD, CHAN)
    with pytest.raises(PolicyError):
        check_prompt("a cat", "", eff)


async def test_set_role_override_nan_keeps_the_cooldown(store: Store) -> None:
    svc = PolicyService(store, CFG)
    with pytest.raises(PolicyError, match="finite"):
        await svc.set_role_override(GUILD, 55, {"cooldown_seconds": float("nan")}, by=ADMIN)
    eff = await svc.for_draw(GUILD, CHAN)
    assert user_limits(eff, [55]).cooldown == 2.0
