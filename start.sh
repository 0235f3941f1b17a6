#!/usr/bin/env bash
# Start Easel: creates .venv and installs requirements on first run, then runs the bot.
# Usage: ./start.sh [run|check|setup] [--config config.toml]
#   ./start.sh           start the bot: config.toml if it exists, else the defaults (DISCORD_TOKEN, EASEL_WEBUI_URL)
#   ./start.sh setup     ask for the token and the webui address, try them, write config.toml
#   ./start.sh check     try the config, the webuis and the token before going live
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q -r requirements.txt && touch .venv/.installed
fi
# The optional image check: installed when the config turns [safety] nsfw_check on (exit status 3 = wanted, missing).
# If the install fails the bot still starts, warns, and applies only the channel policy (docs/safety.md).
status=0
if [ "${1:-}" != "setup" ]; then
  .venv/bin/python -m easel.safety.images --needs-install "$@" || status=$?
fi
if [ "$status" -eq 3 ]; then
  echo "easel: installing the image check (requirements-nsfw.txt, about 320 MB)..." >&2
  .venv/bin/python -m pip install -q -r requirements-nsfw.txt ||
    echo "easel: could not install requirements-nsfw.txt; starting without the image check" >&2
fi
exec .venv/bin/python bot.py "$@"
