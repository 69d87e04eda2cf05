"""Dependency floors stay at or above every release that fixed a published vulnerability.

``known-fixes.toml`` is the source (one entry per advisory); this test fails when a requirement
in ``pyproject.toml`` — the product's dependencies, its extras, or a dependency group — would let
pip install a release older than a fix listed there, or when a listed package has no floor.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def requirements(pyproject: dict[str, object]) -> Iterator[tuple[str, Requirement]]:
    """Every requirement string in pyproject.toml, with where it is written."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    for text in project.get("dependencies", []):
        yield "[project] dependencies", Requirement(text)
    for extra, texts in project.get("optional-dependencies", {}).items():
        for text in texts:
            yield f"[project.optional-dependencies] {extra}", Requirement(text)
    groups = pyproject.get("dependency-groups", {})
    assert isinstance(groups, dict)
    for group, entries in groups.items():
        for entry in entries:
            if isinstance(entry, str):  # not { include-group = ... }
                yield f"[dependency-groups] {group}", Requirement(entry)


def floor(requirement: Requirement) -> Version | None:
    """The lowest release the requirement allows, from its >= / == / ~= clauses."""
    lows = [
        Version(spec.version)
        for spec in requirement.specifier
        if spec.operator in (">=", "==", "~=", "===")
    ]
    lows += [Version(spec.version) for spec in requirement.specifier if spec.operator == ">"]
    return max(lows, default=None)


def too_low(pyproject: dict[str, object], fixes: list[dict[str, str]]) -> list[str]:
    found: list[str] = []
    needed: dict[str, tuple[Version, str]] = {}
    for fix in fixes:
        name = canonicalize_name(fix["package"])
        version = Version(fix["fixed"])
        if name not in needed or version > needed[name][0]:
            needed[name] = (version, fix["advisory"])
    seen: set[str] = set()
    for where, requirement in requirements(pyproject):
        name = canonicalize_name(requirement.name)
        if name not in needed:
            continue
        seen.add(name)
        version, advisory = needed[name]
        low = floor(requirement)
        if low is None or low < version:
            found.append(f"{where}: {requirement} allows releases before {version} ({advisory})")
    for missing in sorted(set(needed) - seen):
        found.append(f"known-fixes.toml lists {missing}, which pyproject.toml does not require")
    return found


def test_no_floor_allows_a_release_with_a_known_vulnerability() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    fixes = tomllib.loads((REPO / "known-fixes.toml").read_text())["fix"]
    assert too_low(pyproject, fixes) == []


def test_the_check_reads_every_kind_of_requirement() -> None:
    """The pyproject.toml of before the floors were raised is refused, wherever a floor sits."""
    old = {
        "project": {
            "dependencies": ["starlette>=0.40,<1", "jinja2>=3.1.6"],
            "optional-dependencies": {"demo": ["httpx>=0.22"]},
        },
        "dependency-groups": {"test": ["aiosmtpd", {"include-group": "lint"}]},
    }
    fixes = [
        {"package": "Starlette", "fixed": "0.49.1", "advisory": "CVE-2025-62727"},
        {"package": "jinja2", "fixed": "3.1.6", "advisory": "CVE-2025-27516"},
        {"package": "httpx", "fixed": "0.23.0", "advisory": "CVE-2021-41945"},
        {"package": "aiosmtpd", "fixed": "1.4.6", "advisory": "CVE-2024-34083"},
        {"package": "h11", "fixed": "0.16.0", "advisory": "CVE-2025-43859"},
    ]
    assert too_low(old, fixes) == [
        "[project] dependencies: starlette<1,>=0.40 allows releases before 0.49.1 (CVE-2025-62727)",
        "[project.optional-dependencies] demo: httpx>=0.22 allows releases before 0.23.0"
        " (CVE-2021-41945)",
        "[dependency-groups] test: aiosmtpd allows releases before 1.4.6 (CVE-2024-34083)",
        "known-fixes.toml lists h11, which pyproject.toml does not require",
    ]


@pytest.mark.parametrize("key", ["package", "fixed", "advisory", "what"])
def test_every_known_fix_says_what_and_where(key: str) -> None:
    fixes = tomllib.loads((REPO / "known-fixes.toml").read_text())["fix"]
    assert fixes and all(isinstance(fix.get(key), str) and fix[key] for fix in fixes)
