"""The documentation: the README stays a front page, and every page it links to exists.

`mkdocs build --strict` (CI's lint step) checks the links inside docs/; this checks what the
site build cannot see: the README, which lives outside docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A front page, not a manual: the manual is docs/ (issue 19: starlette's is ~140 lines).
README_MAX_LINES = 150


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines (limit {README_MAX_LINES}): move the detail into a "
        "page under docs/ and link to it"
    )


def test_every_link_in_the_readme_points_at_a_file_that_exists() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
