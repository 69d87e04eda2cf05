"""callback_desk.core.standin: a module imported for what a process never does before its first
answer is bound to a stand-in, and the real module is loaded at its first use."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from callback_desk.core.standin import OnFirstUse, datetime_from_c, standing_in
from fakes.agi_runner import REPO

NAME = "tests.unit.standin_target"  # not a real module: an import of it would fail


def test_an_import_in_the_block_binds_a_stand_in_gone_from_sys_modules_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "standin_real.py").write_text("ANSWER = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "standin_real", raising=False)
    with standing_in("standin_real") as stand_ins:
        import standin_real  # type: ignore[import-not-found]  # written above

        assert isinstance(standin_real, OnFirstUse) and stand_ins == {"standin_real": standin_real}
        assert "ANSWER" not in standin_real.__dict__  # not loaded
    assert "standin_real" not in sys.modules
    # First use, after the block: the real module, through the stand-in.
    assert standin_real.ANSWER == 42
    assert not isinstance(sys.modules["standin_real"], OnFirstUse)
    del sys.modules["standin_real"]


def test_a_module_already_loaded_is_left_alone() -> None:
    import json

    with standing_in("json") as stand_ins:
        assert sys.modules["json"] is json and stand_ins == {}


def test_use_while_standing_in_is_an_error_not_a_loop() -> None:
    with standing_in(NAME) as stand_ins, pytest.raises(ImportError, match="standing in"):
        stand_ins[NAME].anything  # noqa: B018 - the attribute read is the test


def test_the_import_systems_questions_get_no_answer_from_a_stand_in() -> None:
    # ``from six import PY3`` asks for __path__ first: a stand-in must not import for that.
    stand_in = OnFirstUse(NAME)
    assert not hasattr(stand_in, "__path__")
    stand_in.__dict__["PY3"] = True
    with standing_in(NAME):
        sys.modules[NAME] = stand_in
        module = types.ModuleType("importer")
        exec(f"from {NAME} import PY3", module.__dict__)
    assert module.__dict__["PY3"] is True
    sys.modules.pop(NAME, None)


def test_datetime_from_c_is_datetime_without_its_python_twin() -> None:
    # In a fresh interpreter: this one has datetime loaded (and then it is left alone).
    check = (
        "import sys\n"
        "from callback_desk.core.standin import datetime_from_c\n"
        "datetime_from_c()\n"
        "import datetime, _datetime\n"
        "real = {k: getattr(_datetime, k) for k in dir(_datetime) if not k.startswith('__')}\n"
        "assert {k: getattr(datetime, k) for k in real} == real\n"
        "assert datetime.__all__ == ('date', 'datetime', 'time', 'timedelta', 'timezone',"
        " 'tzinfo', 'MINYEAR', 'MAXYEAR', 'UTC')\n"
        "assert datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).isoformat()"
        " == '2026-01-01T00:00:00+00:00'\n"
        "import zoneinfo\n"
        "assert datetime.datetime.now(zoneinfo.ZoneInfo('America/New_York')).tzinfo\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    import datetime

    datetime_from_c()  # loaded already: nothing changes
    assert sys.modules["datetime"] is datetime
