"""What on a FreePBX would defeat the callback's neutral caller ID.

In ``dial_mode = "freepbx"`` the callback leaves through FreePBX's outbound route and trunk
macros, which recompute the caller ID on the trunk leg (core ``macro-outbound-callerid``): the
trunk's CID, then the extension's outbound CID, then ``TRUNKCIDOVERRIDE`` (what the AGI sets; an
outbound route's "Route CID" only fills it when empty) - unless the trunk's CID Options say
"Force Trunk CID". FreePBX then writes ``FORCEDOUTCID_<trunk>`` into the ``[globals]`` of
``extensions_additional.conf``, and that caller ID wins over everything: the callee sees the
trunk's number, not the neutral one. Shown against the FreePBX-shaped lab PBX in
tests/lab/test_install_lab.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ADDITIONAL = "extensions_additional.conf"
_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_FORCED = re.compile(r"^\s*FORCEDOUTCID_([0-9]+)\s*=>?\s*(.*?)\s*$")
_ANGLE = re.compile(r"<([^>]*)>")


@dataclass(frozen=True)
class ForcedTrunkCid:
    """A trunk whose "Force Trunk CID" replaces the callback's caller ID."""

    trunk: str  # FreePBX's trunk id (Connectivity > Trunks)
    callerid: str  # as FreePBX wrote it, e.g. '"Front Desk" <+12125550155>'


def forced_trunk_cids(additional: str) -> list[ForcedTrunkCid]:
    """The trunks of an ``extensions_additional.conf`` that force their own caller ID."""
    found: list[ForcedTrunkCid] = []
    section = ""
    for line in additional.splitlines():
        line = line.split(";", 1)[0]
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            continue
        forced = _FORCED.match(line) if section == "globals" else None
        if forced and forced.group(2):
            found.append(ForcedTrunkCid(forced.group(1), forced.group(2)))
    return found


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isdigit())


def shows_neutral(forced: ForcedTrunkCid, callback_number: str) -> bool:
    """Whether the forced caller ID is the neutral number anyway (national or E.164 form)."""
    inside = _ANGLE.search(forced.callerid)
    number = _digits(inside.group(1) if inside else forced.callerid)
    neutral = _digits(callback_number)
    if not number or not neutral:
        return False
    short, long = sorted((number, neutral), key=len)
    return long.endswith(short) and len(short) >= 7


def defeating(additional: str, callback_number: str) -> list[ForcedTrunkCid]:
    """The trunks whose forced caller ID a callback through them would show instead."""
    return [f for f in forced_trunk_cids(additional) if not shows_neutral(f, callback_number)]
