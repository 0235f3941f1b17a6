"""Shared by the easel/policy tests: a config, a fake catalog, ids and a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from easel.config import Config, parse_config
from easel.policy import EffectiveSettings, SafetyConfig, effective
from easel.store import Store

CFG = parse_config(
    {"backends": [{"url": "http://127.0.0.1:7860"}], "limits": {"max_steps": 50, "cooldown_seconds": 2.0}},
    env={},
)


def with_safety(safety: SafetyConfig) -> Config:
    """CFG with a [safety] section (until easel/config.py has one, set as an attribute)."""
    cfg = replace(CFG)
    object.__setattr__(cfg, "safety", safety)
    return cfg


def guild_eff(**guild: Any) -> EffectiveSettings:
    """The effective settings of CFG with these guild settings."""
    return effective(CFG, guild)


GUILD, CHAN, THREAD, OTHER = 100, 200, 201, 300
ADMIN, USER = 7, 8


class Cat:
    known = True

    def model_names(self) -> list[str]:
        return ["sdxl_base", "v1-5-pruned-emaonly"]

    def samplers(self) -> list[str]:
        return ["Euler a", "DPM++ 2M"]

    def schedulers(self) -> list[str]:
        return ["Automatic", "Karras"]

    def styles(self) -> list[str]:
        return ["Cinematic"]

    def resolve_model(self, name: str) -> str | None:
        return {"sdxl": "sdxl_base", "sdxl_base": "sdxl_base"}.get(name.lower())

    def has_sampler(self, name: str) -> bool:
        return name in self.samplers()

    def has_scheduler(self, name: str) -> bool:
        return name in self.schedulers()

    def has_style(self, name: str) -> bool:
        return name in self.styles()


class EmptyCat(Cat):
    known = False


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "db")
    yield s
    await s.close()
