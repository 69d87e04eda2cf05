"""axe-core (Deque's accessibility engine, the npm package) run in a page, at WCAG 2.2 A/AA.

The package is a test-only tool pinned by ``tests/browser/package.json`` and its lock file and
installed with npm into ``tests/browser/node_modules`` (``.ci/run`` does it; so does the first
browser test when it is missing and npm is there). No browser is downloaded: the pages run in
Debian's Chromium. The script goes in through Playwright's evaluate (the DevTools protocol), which
the inbox's Content-Security-Policy (``script-src 'self'``) does not apply to, so the page is
tested with its real CSP on.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
# Every WCAG 2.0, 2.1 and 2.2 success criterion at levels A and AA that axe has a rule for.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


@cache
def source() -> str:
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("axe-core is not installed and npm is missing: cd tests/browser && npm ci")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not AXE.is_file():
            pytest.fail(f"npm ci in tests/browser failed: {done.stderr.strip()[-500:]}")
    return AXE.read_text("utf-8")


async def violations(page: Any) -> list[str]:
    """One line per axe violation on the page as it is now (rule, impact, the nodes' targets)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(source())
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: "
        "['violations']})",
        TAGS,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
    ]
