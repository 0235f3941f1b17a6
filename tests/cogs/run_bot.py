"""Start the real bot in a child process against the loopback Discord fake (used by the kill -9 tests).

The only redirection is ``discord.http.Route.BASE``, from the environment variable EASEL_TEST_DISCORD_API.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import discord

import bot

if __name__ == "__main__":
    discord.http.Route.BASE = os.environ["EASEL_TEST_DISCORD_API"]
    sys.exit(bot.main(sys.argv[1:]))
