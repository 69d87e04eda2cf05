"""What on a FreePBX defeats the callback's neutral caller ID (agi/freepbx.py), as the doctor and
install read it from extensions_additional.conf. The lab shows the same at the carrier
(tests/lab/test_install_lab.py)."""

from __future__ import annotations

from pathlib import Path

from agi import freepbx
from agi.config import AgiSettings
from callback_desk.doctor.checks import DoctorOptions, freepbx_cid_checks

LAB_ADDITIONAL = Path(__file__).resolve().parents[1] / "lab/etc/freepbx/extensions_additional.conf"
NEUTRAL = "+12125550100"
# As FreePBX 17 writes a trunk's globals (core functions.inc.php, core_get_config).
GLOBALS = """[globals]
OUTCID_1 = "Front Desk" <+12125550155>
OUTKEEPCID_1 = all
FORCEDOUTCID_1 = "Front Desk" <+12125550155>
OUTCID_2 = <2125550100>
OUTKEEPCID_2 = all
FORCEDOUTCID_2 = <2125550100>
OUTKEEPCID_3 = off
FORCEDOUTCID_3 =
; FORCEDOUTCID_4 = <5550000>
[outrt-1]
exten => _X.,1,Set(FORCEDOUTCID_5=<+19995550000>)
"""


def test_forced_trunk_cids_are_the_non_empty_globals_only() -> None:
    assert freepbx.forced_trunk_cids(GLOBALS) == [
        freepbx.ForcedTrunkCid("1", '"Front Desk" <+12125550155>'),
        freepbx.ForcedTrunkCid("2", "<2125550100>"),
    ]


def test_a_trunk_forcing_the_neutral_number_itself_does_not_defeat_it() -> None:
    assert [f.trunk for f in freepbx.defeating(GLOBALS, NEUTRAL)] == ["1"]
    assert [f.trunk for f in freepbx.defeating(GLOBALS, "")] == ["1", "2"]


def test_the_labs_freepbx_forces_nothing() -> None:
    assert freepbx.forced_trunk_cids(LAB_ADDITIONAL.read_text()) == []


def _checks(tmp_path: Path, text: str | None, mode: str = "freepbx") -> list[str]:
    if text is not None:
        (tmp_path / freepbx.ADDITIONAL).write_text(text)
    agi = AgiSettings(callback_number=NEUTRAL, dial_mode=mode)  # type: ignore[arg-type]
    options = DoctorOptions(asterisk_etc=tmp_path)
    return [c.line() for c in freepbx_cid_checks(agi, options, local=True)]


def test_doctor_crosses_a_forced_trunk_cid_and_says_where_to_change_it(tmp_path: Path) -> None:
    [line] = _checks(tmp_path, GLOBALS)
    assert "✗" in line and "trunk 1 forces caller ID" in line and "+12125550155" in line
    assert "Allow Any CID" in line
    [line] = _checks(tmp_path, LAB_ADDITIONAL.read_text())
    assert "✓" in line
    [line] = _checks(tmp_path / "no-such-dir", None)
    assert "✓" not in line and "✗" not in line  # not there: cannot tell
    assert _checks(tmp_path, GLOBALS, mode="template") == []  # no FreePBX routes in the way
