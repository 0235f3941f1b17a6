"""The message catalogs: complete for every listed language, placeholders intact, the template up to date with the
code, no English text left inline in the cogs or the core; the lookup, the fallback and the locale context."""

from __future__ import annotations

import ast
import asyncio
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from easel import i18n
from easel.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    N_,
    _,
    catalog_id,
    current_locale,
    format_number,
    ngettext,
    translate,
    use_locale,
)

ROOT = Path(__file__).resolve().parents[2]
POT = LOCALE_DIR / "easel.pot"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {m.id for m in catalog if m.id}


def _catalogs() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/easel.po"))


def _fields(text: str) -> list[str]:
    """The replacement fields of a str.format text (``{n}``, ``{value:g}``, ``{model!r}``), sorted; raises
    ValueError on an unbalanced brace."""
    out = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            out.append(f"{name}!{conversion or ''}:{spec or ''}")
    return sorted(out)


def _strings(m: Message) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a message; every plural form is checked against the plural msgid."""
    if isinstance(m.id, tuple):
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        return [(m.id[1] if n else m.id[0], s) for n, s in enumerate(strings)]
    return [(m.id, m.string)]  # type: ignore[list-item]


# ---- the catalogs ------------------------------------------------------------------------------------------


def test_german_is_a_listed_language_and_every_listed_one_has_a_catalog() -> None:
    assert "de" in LANGUAGES
    listed = [line.split("#")[0].strip() for line in (LOCALE_DIR / "LANGUAGES").read_text().splitlines()]
    for lang in filter(None, listed):
        assert (LOCALE_DIR / lang / "LC_MESSAGES" / "easel.po").is_file(), lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_listed_language_translates_every_message_of_the_template(lang: str) -> None:
    catalog = _read(LOCALE_DIR / lang / "LC_MESSAGES" / "easel.po", lang)
    by_id = {m.id: m for m in catalog if m.id}
    missing = []
    for msgid in _ids(_read(POT)):
        m = by_id.get(msgid)
        strings = () if m is None else (m.string if isinstance(m.string, tuple) else (m.string,))
        if m is None or m.fuzzy or not strings or not all(strings):
            missing.append(msgid)
    assert missing == [], f"{lang}: {len(missing)} message(s) untranslated or fuzzy: {missing[:5]}"


@pytest.mark.parametrize("path", _catalogs(), ids=lambda p: p.parent.parent.name)
def test_every_translation_keeps_the_placeholders_of_its_message(path: Path) -> None:
    """In every catalog (complete or not): what is translated has exactly the msgid's fields, and the braces
    balance (str.format would raise on the member's screen otherwise)."""
    broken = []
    for m in _read(path, path.parent.parent.name):
        if not m.id or m.fuzzy:  # a fuzzy entry is a suggestion for the translator, never shown
            continue
        for msgid, msgstr in _strings(m):
            if not msgstr:
                continue
            try:
                if _fields(msgstr) != _fields(msgid):
                    broken.append((msgid, msgstr))
            except ValueError:
                broken.append((msgid, msgstr))
    assert broken == []


def test_the_placeholder_check_sees_a_broken_translation() -> None:
    assert _fields("Job `{job}` failed") != _fields("Job `{jbo}` ist fehlgeschlagen")
    assert _fields("{n:g} s") != _fields("{n} s")
    with pytest.raises(ValueError):
        _fields("Job `{job` ist fehlgeschlagen")


def test_every_message_of_the_template_formats_with_its_own_fields() -> None:
    """The English text itself is a valid format string (a stray brace would break every language)."""
    for msgid in _ids(_read(POT)):
        for text in msgid if isinstance(msgid, tuple) else (msgid,):
            _fields(text)


def _extracted() -> set[str | tuple[str, ...]]:
    """The messages in the code now, as scripts/i18n.sh extract finds them (the same babel.cfg)."""
    method_map = []
    for line in (ROOT / "babel.cfg").read_text().splitlines():
        m = re.fullmatch(r"\[(\w+): (.+)\]", line.strip())
        if m:
            method_map.append((m.group(2), m.group(1)))
    assert method_map
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    found: set[str | tuple[str, ...]] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        found.add(message)
    return found


def test_the_template_is_up_to_date_with_the_code() -> None:
    """After adding or changing a _("...") text, run ``scripts/i18n.sh update`` (docs/translating.md)."""
    in_code = _extracted()
    in_template = _ids(_read(POT))
    assert sorted(map(str, in_code - in_template)) == [], "new texts: run scripts/i18n.sh update"
    assert sorted(map(str, in_template - in_code)) == [], "texts no longer in the code: run scripts/i18n.sh update"


@pytest.mark.parametrize("path", _catalogs(), ids=lambda p: p.parent.parent.name)
def test_every_catalog_follows_the_template(path: Path) -> None:
    assert _ids(_read(path)) == _ids(_read(POT)), "run scripts/i18n.sh update"


def test_german_descriptions_and_labels_fit_discord() -> None:
    """Discord allows 100 characters for a description or a choice label, 80 for a button label."""
    from easel.options import OPTIONS
    from easel.policy.keys import SETTINGS

    for text in [o.description for o in OPTIONS] + [s.description for s in SETTINGS.values()]:
        assert len(translate(text, "de") or text) <= 100, text
    for label in ("Reroll", "Vary", "Remix", "Upscale", "Info", "Delete", "Cancel", "Show original"):
        assert len(translate(label, "de") or label) <= 80


# ---- no English text inline --------------------------------------------------------------------------------

# Calls whose text arguments a person reads, and keywords that carry text.
_TEXT_CALLS = {
    "send",
    "send_message",
    "edit",
    "edit_message",
    "edit_original_response",
    "reply",
    "respond",
    "followup",
    "RequestError",
    "PolicyError",
    "QueueFull",
    "RangeError",
    "UnreadableImage",
    "CancelResult",
    "Embed",
    "Button",
    "TextInput",
    "Choice",
    "command",
    "describe",
    "Group",
}
_TEXT_KEYWORDS = {"content", "label", "description", "placeholder", "title", "text"}
# Not text: markup glue, ids, emoji, webui keys and terms the community writes in English.
_ALLOWED = {"img2img", "txt2img", "txt2img + hires fix", "Schedule type", "CFG scale", "Euler a"}
_WORD = re.compile(r"[A-Za-z]{2,}")
_SKIP_MODULES = {"easel/check.py", "easel/logs.py", "easel/metrics.py"}  # the admin's console and the log


def _is_wrapped(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    p = parents.get(node)
    while p is not None:
        if isinstance(p, ast.Call):
            f = p.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("_", "N_", "ngettext"):
                return True
        p = parents.get(p)
    return False


def _english(node: ast.Constant | ast.JoinedStr) -> str | None:
    parts = (
        [node.value]
        if isinstance(node, ast.Constant)
        else [v.value for v in node.values if isinstance(v, ast.Constant)]
    )
    text = "".join(p for p in parts if isinstance(p, str))
    if text.strip() in _ALLOWED or text.startswith(("easel:", "https://", "@original")):
        return None
    if re.fullmatch(r"[a-z0-9_.:/-]*", text):  # an identifier, a custom id, a key: not a sentence
        return None
    return text if _WORD.search(text) else None


def _texts_in(node: ast.AST) -> Iterator[ast.Constant | ast.JoinedStr]:
    """The string literals an argument is made of (also inside conditional expressions and concatenations)."""
    if (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr):
        yield node
    elif isinstance(node, ast.IfExp):
        yield from _texts_in(node.body)
        yield from _texts_in(node.orelse)
    elif isinstance(node, ast.BinOp):
        yield from _texts_in(node.left)
        yield from _texts_in(node.right)


def inline_english(source: str) -> list[tuple[int, str]]:
    """Text a person reads written inline, not through _()/N_(): arguments of the calls above, text keywords,
    what a function of easel/texts returns. Log calls are not among them (logs stay English)."""
    tree = ast.parse(source)
    parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    found: list[tuple[int, str]] = []
    strong: list[ast.AST] = []  # text for sure: one word is enough ("Reroll")
    weak: list[ast.AST] = []  # returned or listed: a sentence (two words at least) counts
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in _TEXT_CALLS:
                strong += node.args
                strong += [k.value for k in node.keywords if k.arg not in ("custom_id", "emoji", "name", "value")]
            else:
                strong += [k.value for k in node.keywords if k.arg in _TEXT_KEYWORDS]
        elif isinstance(node, ast.ClassDef):
            strong += [k.value for k in node.keywords if k.arg in _TEXT_KEYWORDS]
        elif isinstance(node, ast.Return) and node.value is not None:
            weak.append(node.value)
        elif isinstance(node, ast.List | ast.Tuple) and isinstance(parents.get(node), ast.Assign):
            weak += node.elts  # lines = ["...", ...]
        elif isinstance(node, ast.Dict):
            weak += [v for v in node.values if v is not None]
    for args, sentence in ((strong, False), (weak, True)):
        for arg in args:
            for lit in _texts_in(arg):
                text = _english(lit)
                if text is None or _is_wrapped(lit, parents):
                    continue
                if sentence and len(text.split()) < 2:
                    continue
                found.append((lit.lineno, text))
    return found


def _sources() -> Iterator[Path]:
    yield ROOT / "bot.py"
    for folder in ("easel", "cogs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() not in _SKIP_MODULES:
                yield path


# Texts returned or listed that are not for people (keys, formats, markup); each one checked by hand.
_NOT_TEXT = {
    "cogs/utils/errors.py": {" by user  in guild  channel "},  # the log line's "who and where"
    "easel/policy/service.py": {"< entries>"},  # a log line's value
    "easel/safety/images.py": {"the image check needs , which is not installed: run "},  # the admin's console
    "easel/texts/results.py": {"/draw "},  # the copyable command line
    "easel/backends/credentials.py": {"<invalid url>"},  # a log line's value
    "easel/backends/webui/client.py": {"WebuiClient(name=, url=)"},  # repr
    "easel/loras.py": {"activation text"},  # a key of the webui's LoRA metadata
}


def test_no_english_text_is_left_inline_in_the_cogs_or_the_core() -> None:
    left = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        texts = (
            rel.startswith(("easel/texts/", "cogs/"))
            or rel
            in (
                "easel/admission.py",
                "easel/request.py",
                "easel/options.py",
                "easel/images.py",
                "easel/presets.py",
                "easel/profiles.py",
                "easel/loras.py",
                "easel/faces.py",
            )
            or rel.startswith(("easel/policy/", "easel/queue/", "easel/safety/", "easel/tools/", "easel/backends/"))
        )
        if not texts:
            continue
        for line, text in inline_english(path.read_text()):
            if text not in _NOT_TEXT.get(rel, set()):
                left.append(f"{rel}:{line}: {text!r}")
    assert left == []


def test_the_scan_finds_inline_text() -> None:
    source = """
def refuse(n):
    raise RequestError(f"The prompt is {n} characters.")

def fine(n):
    raise RequestError(_("The prompt is {n} characters.").format(n=n))

def label():
    return Button(label="Reroll", custom_id="easel:reroll:abc:0")

def lines():
    lines = ["**Your commands**", _("**Help**")]
    return "Nothing is waiting." if lines else _("Nothing")

def logs():
    log.info("job %s: cancelled by the user", 1)
"""
    found = sorted(text for _line, text in inline_english(source))
    assert found == ["**Your commands**", "Nothing is waiting.", "Reroll", "The prompt is  characters."]


# ---- lookup, fallback, locale -------------------------------------------------------------------------------


def test_a_member_in_german_gets_german_and_english_is_the_fallback() -> None:
    with use_locale("de"):
        assert _("You have no jobs waiting.") == "Du hast keine wartenden Jobs."
        assert _("A text no catalog has") == "A text no catalog has"
        assert ngettext("{n} image", "{n} images", 1).format(n=1) == "1 Bild"
        assert ngettext("{n} image", "{n} images", 3).format(n=3) == "3 Bilder"
    assert _("You have no jobs waiting.") == "You have no jobs waiting."
    with use_locale("zh-TW"):  # no catalog: English
        assert _("You have no jobs waiting.") == "You have no jobs waiting."
    with use_locale("fr"):  # another member, another catalog; a text it lacks stays English
        assert _("You have no jobs waiting.") == "Tu n'as aucune tâche en attente."
        assert _("A text no catalog has") == "A text no catalog has"


def test_n_marks_without_translating() -> None:
    with use_locale("de"):
        marked = N_("Reroll")
        assert marked == "Reroll" and _(marked) == "Neu würfeln"


def test_discord_locales_map_to_the_catalogs() -> None:
    assert catalog_id("de") == "de"
    assert catalog_id("es-ES") == "es_ES" and catalog_id("es-419") == "es_ES"
    assert catalog_id("pt-BR") == "pt_BR" and catalog_id("zh-CN") == "zh_CN"
    assert catalog_id("en-US") is None and catalog_id("en-GB") is None and catalog_id("zh-TW") is None
    assert catalog_id(None) is None and catalog_id("") is None


def test_the_command_translator_lookup_leaves_untranslated_text_to_discord() -> None:
    assert translate("Draw an image with Stable Diffusion", "de") == "Ein Bild mit Stable Diffusion zeichnen"
    assert translate("A description no catalog has", "fr") is None  # left to Discord: it shows the English
    assert translate("Draw an image with Stable Diffusion", "en-US") is None
    assert translate("16:9", "de") is None


async def test_the_locale_belongs_to_its_task() -> None:
    """Two members answered at the same time each get their own language; a task started inside inherits it."""
    seen: dict[str, str] = {}

    async def answer(locale: str) -> None:
        with use_locale(locale):
            await asyncio.sleep(0)
            seen[locale] = _("You have no jobs waiting.")
            inner = asyncio.create_task(asyncio.sleep(0, result=current_locale()))
            assert await inner == locale

    await asyncio.gather(answer("de"), answer("en-US"))
    assert seen == {"de": "Du hast keine wartenden Jobs.", "en-US": "You have no jobs waiting."}
    assert current_locale() == i18n.DEFAULT_LOCALE


def test_numbers_follow_the_locale() -> None:
    assert format_number(1048576) == "1,048,576"
    assert format_number(4.25, 1) == "4.2" or format_number(4.25, 1) == "4.3"
    with use_locale("de"):
        assert format_number(1048576) == "1.048.576"
        assert format_number(2.5, 1) == "2,5"


def test_durations_and_sizes_follow_the_locale() -> None:
    from easel.texts.markup import duration

    assert (duration(4.25), duration(187)) == ("4.2 s", "3 min 07 s")
    with use_locale("de"):
        assert (duration(4.25), duration(187)) == ("4,2 s", "3 min 07 s")
        assert (
            _("{width}x{height} is {pixels} pixels; the limit is {max_pixels} (e.g. {side}x{side}).").format(
                width=2048, height=2048, pixels=format_number(2048 * 2048), max_pixels=format_number(1048576), side=1024
            )
            == "2048x2048 sind 4.194.304 Pixel; das Limit liegt bei 1.048.576 (z. B. 1024x1024)."
        )


def test_a_broken_catalog_leaves_that_language_in_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "de" / "LC_MESSAGES"
    good.mkdir(parents=True)
    (good / "easel.po").write_bytes((LOCALE_DIR / "de" / "LC_MESSAGES" / "easel.po").read_bytes())
    bad = tmp_path / "fr" / "LC_MESSAGES"
    bad.mkdir(parents=True)
    (bad / "easel.po").write_text('msgid "x"\nmsgstr "unterminated\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    loaded = i18n._load()
    assert "de" in loaded and loaded["de"].gettext("Reroll") == "Neu würfeln"
    assert "fr" not in loaded or loaded["fr"].gettext("Reroll") == "Reroll"
