"""The README and docs/ describe only what works end to end: checked against the code.

A screen that nothing reaches must be written down as not yet working. These tests find out
from the source whether a feature is wired and fail when the docs say otherwise.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("appliance", "drivers", "kiosk_ui", "hub", "protocol", "provisioning")
NOT_YET = "not yet"


def _modules_constructing(name: str) -> list[Path]:
    """Product modules (not tests) that call ``name(...)`` or ``something.name(...)``."""
    found = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                called = (
                    func.id
                    if isinstance(func, ast.Name)
                    else func.attr
                    if isinstance(func, ast.Attribute)
                    else None
                )
                if called == name:
                    found.append(path.relative_to(ROOT))
                    break
    return found


def _signature_is_wired() -> bool:
    """Signing works only once something outside the journey machine asks for it."""
    producers = _modules_constructing("SignatureChanged")
    journey = Path("appliance/session")
    return any(journey not in p.parents for p in producers)


def test_the_docs_do_not_present_signing_as_working_while_nothing_requests_it() -> None:
    if _signature_is_wired():
        # Once a real request reaches the screen, the docs are free to describe it.
        return
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ui = (ROOT / "docs" / "ui.md").read_text(encoding="utf-8")
    for name, text in (("README.md", readme), ("docs/ui.md", ui)):
        assert "call → signature" not in text and "call ⇄ signature" not in text, (
            f"{name} draws signature as a step of the journey, but nothing requests one"
        )
        lowered = text.lower()
        assert "signing is not yet available" in lowered or "not yet working: signing" in lowered, (
            f"{name} must say that signing is not yet available"
        )
    assert "signature data" not in readme, "README lists signature data among what the vault holds"
