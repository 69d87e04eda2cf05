"""Import direction: the AGI never loads the listener, the listener never loads the AGI."""

from __future__ import annotations

import subprocess
import sys

from tests.fakes.agi_runner import REPO


def loaded_after(imports: str) -> set[str]:
    code = f"import sys; {imports}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_agi_does_not_import_the_listener() -> None:
    loaded = loaded_after("import agi.__main__, agi.server, agi.clicktocall")
    assert "agi" in loaded and "ami_listener" not in loaded


def test_listener_does_not_import_the_agi() -> None:
    loaded = loaded_after("import ami_listener.listener, ami_listener.tracker")
    assert "ami_listener" in loaded and "agi" not in loaded
