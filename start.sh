#!/usr/bin/env bash
# Start Easel: creates .venv and installs requirements on first run, then runs the bot.
# Usage: ./start.sh [--config config.toml]
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q -r requirements.txt && touch .venv/.installed
fi
exec .venv/bin/python bot.py "$@"
