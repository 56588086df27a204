"""docs/privacy.md cannot rot: every promise 1-9 lists tests, and every listed test exists.

The ids are checked against the test files' syntax trees (module-level ``test_*`` functions,
``Class::test_*`` methods), not by collecting them: fast, and it needs none of their imports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs/privacy.md"
PROMISES = range(1, 10)
HEADING = re.compile(r"^## (\d+)\. ", re.MULTILINE)
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+(?:::\w+)?)`")


def listed_tests(text: str) -> dict[int, list[str]]:
    """The test ids under each numbered ``## N.`` heading, by promise number."""
    found: dict[int, list[str]] = {}
    headings = list(HEADING.finditer(text))
    for here, after in zip(headings, [*headings[1:], None], strict=True):
        end = after.start() if after is not None else len(text)
        section = text[here.end() : end]
        ids = [f"{path}::{name}" for path, name in TEST_ID.findall(section)]
        found.setdefault(int(here.group(1)), []).extend(ids)
    return found


def defined_tests(source: str) -> set[str]:
    """``name`` and ``Class::name`` of every test function a test module defines."""
    names: set[str] = set()
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.parse(source).body:
        if isinstance(node, functions) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, functions) and item.name.startswith("test")
            )
    return names


def missing_tests(ids: list[str], root: Path) -> list[str]:
    """The ids whose file or test does not exist under ``root``, each with why."""
    missing: list[str] = []
    modules: dict[str, set[str] | None] = {}
    for test_id in ids:
        path, name = test_id.split("::", 1)
        if path not in modules:
            file = root / path
            modules[path] = defined_tests(file.read_text()) if file.is_file() else None
        tests = modules[path]
        if tests is None:
            missing.append(f"{test_id}: no such file")
        elif name not in tests:
            missing.append(f"{test_id}: no such test in {path}")
    return missing


def problems(text: str, root: Path) -> list[str]:
    """Everything wrong with a privacy page: promises without tests, tests that do not exist."""
    listed = listed_tests(text)
    found = [f"promise {n} lists no test" for n in PROMISES if not listed.get(n)]
    found += [f"promise {n} is not one of 1-9" for n in listed if n not in PROMISES]
    return found + missing_tests([i for ids in listed.values() for i in ids], root)


def test_every_promise_lists_tests_that_exist() -> None:
    assert problems(DOC.read_text(), ROOT) == []


def test_a_missing_test_a_missing_file_and_a_promise_without_tests_are_found(
    tmp_path: Path,
) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_a.py").write_text(
        "def test_here():\n    pass\n\n"
        "class TestBox:\n    async def test_inside(self):\n        pass\n"
    )
    sections = [f"## {n}. Promise {n}\n\n- `tests/test_a.py::test_here`\n" for n in PROMISES]
    good = "\n".join(sections)
    assert problems(good, tmp_path) == []
    assert problems(good + "- `tests/test_a.py::TestBox::test_inside`\n", tmp_path) == []
    broken = good.replace("## 9. Promise 9\n\n- `tests/test_a.py::test_here`\n", "## 9. Gone\n")
    broken += "## 4. Again\n\n- `tests/test_a.py::test_gone`\n- `tests/test_b.py::test_x`\n"
    broken += "## 10. Extra\n\n- `tests/test_a.py::TestBox::test_here`\n"
    assert problems(broken, tmp_path) == [
        "promise 9 lists no test",
        "promise 10 is not one of 1-9",
        "tests/test_a.py::test_gone: no such test in tests/test_a.py",
        "tests/test_b.py::test_x: no such file",
        "tests/test_a.py::TestBox::test_here: no such test in tests/test_a.py",
    ]


def test_a_test_named_only_in_prose_or_a_comment_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_a.py").write_text("# def test_commented(): pass\nx = 'test_str'\n")
    text = "## 1. One\n\n- `tests/test_a.py::test_commented`\n- tests/test_a.py::test_str\n"
    assert problems(text, tmp_path)[-1:] == [
        "tests/test_a.py::test_commented: no such test in tests/test_a.py"
    ]
    assert listed_tests(text) == {1: ["tests/test_a.py::test_commented"]}
