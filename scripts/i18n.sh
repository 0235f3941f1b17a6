#!/usr/bin/env bash
# The message catalogs (docs/translating.md):
#   scripts/i18n.sh extract   re-read the code into easel/locales/easel.pot (after adding or changing a _("...") text)
#   scripts/i18n.sh update    extract, then merge the template into every easel/locales/<lang>/LC_MESSAGES/easel.po
#   scripts/i18n.sh init LANG start a new language from the template (LANG as a catalog id: de, es_ES, pt_BR, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
POT=easel/locales/easel.pot
extract() {
  "$PYBABEL" -q extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location --sort-output -w 120 -c TRANSLATORS: \
    --project=Easel --copyright-holder="Easel contributors" --msgid-bugs-address="" \
    -o "$POT" .
}
case "${1:-}" in
  extract) extract ;;
  update)
    extract
    "$PYBABEL" -q update -i "$POT" -d easel/locales -D easel --ignore-obsolete -w 120
    ;;
  init)
    [ -n "${2:-}" ] || { echo "usage: $0 init LANG" >&2; exit 2; }
    "$PYBABEL" init -i "$POT" -d easel/locales -D easel -l "$2"
    ;;
  *) echo "usage: $0 extract|update|init LANG" >&2; exit 2 ;;
esac
