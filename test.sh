#!/usr/bin/env bash
# Run Easel's tests (and the linter): creates .venv and installs the dev requirements on first run.
# Usage: ./test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stale=0
for req in requirements.txt requirements-dev.txt requirements-nsfw.txt; do
  [ -f .venv/.installed-dev ] && [ ! "$req" -nt .venv/.installed-dev ] || stale=1
done
if [ "$stale" = 1 ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt && touch .venv/.installed-dev
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the layers in pyproject.toml [tool.importlinter]
exec .venv/bin/python -m pytest -q "$@"
