"""tests/ mirrors the source tree: tests/easel/ follows easel/ module by module, tests/cogs/ holds the bot's behaviour
through Discord (one file per cog or feature, plus the harness), and nothing else sits in tests/ but the shared
helpers, the fakes and the specs.

Where a new test goes:
- a unit test of ``easel/<pkg>/<mod>.py``: ``tests/easel/<pkg>/test_<mod>.py`` (or ``test_<mod>_<aspect>.py``); of a
  package's ``__init__``: ``tests/easel/<pkg>/test_<pkg>.py``;
- the real bot against the Discord fake: ``tests/cogs/test_<cog or feature>.py``, built on ``tests/cogs/harness.py``;
- a config for any test: ``tests.helpers.make_config``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOP_FILES = {"__init__.py", "helpers.py", "conftest.py", "test_layout.py"}
TOP_DIRS = {"easel", "cogs", "fakes", "specs"}
UNMIRRORED = {"fakes", "specs"}  # kept as they are, not checked here
CROSS_CUTTING = {"easel": {"test_properties.py"}}  # tests spanning several modules of the folder
COG_SUPPORT = {"harness.py", "run_bot.py"}  # tests/cogs/ files that are not tests themselves


def _visible(path: Path) -> bool:
    return path.name != "__pycache__" and not path.name.startswith(".")


def _tests_for(repo: Path, rel: Path, problems: list[str]) -> None:
    """Check tests/<rel> against the source package <repo>/<rel> (rel is "easel", "easel/queue", "cogs", ...)."""
    folder, package, layer = repo / "tests" / rel, repo / rel, rel.parts[0]
    if not (folder / "__init__.py").is_file():
        problems.append(f"{folder}: no __init__.py (imports as tests.{'.'.join(rel.parts)} would break)")
    for path in sorted(filter(_visible, folder.iterdir())):
        if path.is_dir():
            if (package / path.name / "__init__.py").is_file():
                _tests_for(repo, rel / path.name, problems)
            else:
                problems.append(f"{path}: no package {(rel / path.name).as_posix()} to mirror")
            continue
        name = path.name
        if name in ("__init__.py", "conftest.py") or name in CROSS_CUTTING.get(rel.as_posix(), set()):
            continue
        if rel == Path("cogs") and name in COG_SUPPORT:
            continue
        if not (name.startswith("test_") and name.endswith(".py")):
            problems.append(f"{path}: not a test module (shared code goes in tests/helpers.py or a conftest.py)")
            continue
        if layer == "cogs":
            continue  # behaviour through Discord: named after the cog or the feature it exercises
        stem = name.removeprefix("test_").removesuffix(".py")
        modules = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
        if len(rel.parts) > 1:
            modules.add(rel.name)  # test_<pkg>.py tests the package's __init__
        if not any(stem == m or stem.startswith(m + "_") for m in modules):
            problems.append(f"{path}: no module {(rel / stem).as_posix()}.py left to test")


def misplaced(repo: Path) -> list[str]:
    """Everything under ``repo``/tests that breaks the mirrored layout of ``repo``."""
    tests = repo / "tests"
    problems: list[str] = []
    for path in sorted(filter(_visible, tests.iterdir())):
        if path.is_file() and path.name not in TOP_FILES:
            problems.append(
                f"{path}: tests/ holds only {sorted(TOP_FILES)} at the top; move it under {sorted(TOP_DIRS)}"
            )
        elif path.is_dir() and path.name not in TOP_DIRS:
            problems.append(f"{path}: not a mirrored folder ({sorted(TOP_DIRS)})")
    for layer in sorted(TOP_DIRS - UNMIRRORED):
        if (tests / layer).is_dir():
            _tests_for(repo, Path(layer), problems)
    return problems


def test_tests_mirror_the_source_tree() -> None:
    assert misplaced(ROOT) == []


def test_a_stray_or_orphaned_test_module_is_reported(tmp_path: Path) -> None:
    repo = tmp_path
    for src in ("easel/__init__.py", "easel/store.py", "easel/queue/__init__.py", "easel/queue/worker.py"):
        (repo / src).parent.mkdir(parents=True, exist_ok=True)
        (repo / src).write_text("")
    good = [
        "tests/__init__.py",
        "tests/helpers.py",
        "tests/easel/__init__.py",
        "tests/easel/test_store.py",
        "tests/easel/test_store_parts.py",
        "tests/easel/queue/__init__.py",
        "tests/easel/queue/test_queue.py",
        "tests/easel/queue/test_worker.py",
        "tests/cogs/__init__.py",
        "tests/cogs/harness.py",
        "tests/cogs/test_draw.py",
    ]
    for f in good:
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("")
    assert misplaced(repo) == []

    stray = [
        "tests/test_store.py",  # outside the mirrored folders
        "tests/e2e/test_draw.py",  # a folder that mirrors nothing
        "tests/easel/test_jobs.py",  # easel/jobs.py does not exist (any more)
        "tests/easel/queue/test_publisher.py",  # nor easel/queue/publisher.py
        "tests/easel/common.py",  # shared code outside tests/helpers.py
    ]
    for f in stray:
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("")
    problems = "\n".join(misplaced(repo))
    for f in stray:
        assert str(repo / f) in problems or str((repo / f).parent) + ":" in problems, f
