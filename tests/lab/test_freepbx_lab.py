"""``dial_mode = "freepbx"`` on the lab's FreePBX 17-shaped PBX (tests/lab/etc/freepbx), served
by an in-process FastAGI server: what the admin's FreePBX settings do to the callback's caller ID
at the carrier. The installed path (``*47``, the inbox click) is tests/lab/test_install_lab.py's
``test_installed_on_freepbx_end_to_end``.

- ``withhold = true``: the callee gets a withheld caller ID (FreePBX's ``hidden`` name makes
  ``macro-outbound-callerid`` set prohibited presentation).
- A trunk with "Force Trunk CID" (``FORCEDOUTCID_<trunk>``) wins over ``TRUNKCIDOVERRIDE``: the
  callee sees the trunk's number, and the doctor names that trunk.
- The listener decides calls through FreePBX's ring group (``ext-group``, ``macro-dial``) and
  queue (``ext-queues``, members ``Local/<ext>@from-queue/n``) as on plain Asterisk.

The PBX's product pieces are pasted by hand as an admin would: part A of extensions.conf.sample
into extensions_custom.conf (rendered by the installer's own function, the secret read from the
lab's file), the sample's accounts into manager_custom.conf.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agi import freepbx
from agi.clicktocall import originate
from agi.config import load
from agi.queries import Callbacks
from agi.server import FastAgiServer
from callback_desk.core import samples
from callback_desk.core.config import Secret, Settings
from callback_desk.core.store import Store
from callback_desk.doctor.checks import DoctorOptions, freepbx_cid_checks
from callback_desk.install import render
from fakes.poll import until
from fakes.settings import make_settings
from tests.agi_support import add_missed
from tests.lab.lab import CLICK_TO_CALL_USER, DID_QUEUE, DID_RINGGROUP, PRODUCT_USER, Lab
from tests.lab.test_install_lab import FREEPBX, FREEPBX_CIDS, Pbx, _reload, freepbx_pbx
from tests.lab.test_listener_lab import Pbx as Listening
from tests.lab.test_listener_lab import call_and_wait, pbx

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="rewrites the lab PBX's files (root only)"),
]
__all__ = ["freepbx_pbx", "pbx"]  # fixtures, used by name

NEUTRAL_NUMBER = "+12125550100"
NEUTRAL_NAME = "Appointments"
TRUNK_CID = "+12125550155"  # trunk 1's Outbound CallerID (extensions_additional.conf)
AGI_PORT = 4573
LAB_ETC = Path(__file__).parent / "etc" / "pbx"
# The lab dialplan reads the secret from this file (copied beside its extensions.conf).
SECRET_FILE = "/opt/pbx/etc/asterisk/callback-desk-agi.secret"


def settings(dsn: str, **agi: Any) -> Settings:
    return make_settings(
        dsn,
        ami={"host": "127.0.0.1", "port": 5038, **PRODUCT_USER},
        pbx={"timezone": "America/New_York", "country": "US"},
        agi={
            "callback_number": NEUTRAL_NUMBER,
            "callback_name": NEUTRAL_NAME,
            "dial_mode": "freepbx",
            "desk_channel": "Local/{extension}@originate-skipvm",
            "ami_username": CLICK_TO_CALL_USER["username"],
            "ami_secret": CLICK_TO_CALL_USER["secret"],
            **agi,
        },
    )


@pytest.fixture
async def pasted(lab: Lab, freepbx_pbx: Pbx) -> AsyncIterator[Pbx]:
    """The FreePBX-shaped PBX with the product's pieces pasted into its *_custom.conf files."""
    etc = FREEPBX.host_etc
    values = render.DialplanValues(
        secret_file=SECRET_FILE,
        host="127.0.0.1",
        port=AGI_PORT,
        feature_code="*47",
        originate_context="callback-desk-dial",
    )
    part_a = render.freepbx_dialplan(samples.sample_text("extensions.conf"), values)
    (etc / "extensions_custom.conf").write_text("\n".join(part_a) + "\n")
    accounts = (LAB_ETC / "manager_callback_desk_lab.conf").read_text()
    (etc / "manager_custom.conf").write_text(accounts)
    await _reload(lab, FREEPBX.instance)
    yield freepbx_pbx


async def serve(dsn: str, store: Store, **agi: Any) -> FastAgiServer:
    config = settings(dsn, **agi)
    server = FastAgiServer(
        Callbacks(store.pool),
        load(config),
        config.pbx.timezone,
        "127.0.0.1",
        AGI_PORT,
        Secret((LAB_ETC / "callback-desk-agi.secret").read_text().strip()),
    )
    await server.start()
    return server


async def click(lab: Lab, store: Store, dsn: str, number: str, **agi: Any) -> str:
    """A click-to-call of a missed ``number`` from desk 100; the carrier channel's name."""
    server = await serve(dsn, store, **agi)
    try:
        call_id = await add_missed(store, f"+1{number}", 30)
        await lab.set_behaviour("phones", "100", "answer:20")
        await lab.set_behaviour("carrier", number, "answer:8")
        await originate(settings(dsn, **agi), call_id, "100")
        received = await lab.carrier_received_callerid(number, timeout=40)
        return received.channel
    finally:
        await server.close()


async def carrier_var(lab: Lab, channel: str, variable: str) -> str:
    reply = await lab.action("carrier", "Getvar", {"Channel": channel, "Variable": variable})
    return str(reply.get("Value", ""))


async def test_withhold_reaches_the_callee_as_a_withheld_caller_id(
    lab: Lab, pasted: Pbx, store: Store, db_dsn: str
) -> None:
    channel = await click(lab, store, db_dsn, "2125550171", withhold=True)
    # The carrier trusts the PBX's identity headers: it knows the number and must not show it.
    assert (await carrier_var(lab, channel, "CALLERID(num-pres)")).startswith("prohib")
    assert (await carrier_var(lab, channel, "CALLERID(name-pres)")).startswith("prohib")
    number = await carrier_var(lab, channel, "CALLERID(num)")
    assert not any(cid.removeprefix("+") in number for cid in FREEPBX_CIDS), number


async def test_a_forced_trunk_cid_wins_and_the_doctor_names_the_trunk(
    lab: Lab, pasted: Pbx, store: Store, db_dsn: str
) -> None:
    # The admin picks "Force Trunk CID" on trunk 1; FreePBX regenerates its globals.
    additional = FREEPBX.host_etc / freepbx.ADDITIONAL
    text = additional.read_text()
    additional.write_text(
        text.replace("OUTKEEPCID_1 = off\nFORCEDOUTCID_1 =\n",
                     f'OUTKEEPCID_1 = all\nFORCEDOUTCID_1 = "Front Desk" <{TRUNK_CID}>\n')
    )  # fmt: skip
    await lab.command("pbx", "dialplan reload")
    channel = await click(lab, store, db_dsn, "2125550172")
    # FreePBX's precedence: the forced trunk CID over TRUNKCIDOVERRIDE.
    assert await carrier_var(lab, channel, "CALLERID(num)") in (TRUNK_CID, TRUNK_CID[1:])
    [line] = [
        c.line()
        for c in freepbx_cid_checks(
            load(settings(db_dsn)), DoctorOptions(asterisk_etc=FREEPBX.host_etc), local=True
        )
    ]
    assert line.startswith("✗") and "trunk 1 forces caller ID" in line and TRUNK_CID in line

    # Back to "Allow Any CID": the neutral number again, and the doctor is content.
    additional.write_text(text)
    await lab.command("pbx", "dialplan reload")
    await lab.wait_idle(timeout=60)
    lab.clear_events()
    channel = await click(lab, store, db_dsn, "2125550173")
    assert await carrier_var(lab, channel, "CALLERID(num)") in (NEUTRAL_NUMBER, NEUTRAL_NUMBER[1:])

    async def content() -> bool:
        checks = freepbx_cid_checks(
            load(settings(db_dsn)), DoctorOptions(asterisk_etc=FREEPBX.host_etc), local=True
        )
        return [c.status for c in checks] == ["ok"]

    await until(content, timeout=5, what="the doctor content again")


async def test_freepbx_ring_group_nobody_answers_is_missed(pasted: Pbx, pbx: Listening) -> None:
    # Ring group 600 rings 100 and 101 for 8 s, then Terminate Call: the caller is hung up on.
    row = await call_and_wait(pbx, DID_RINGGROUP, "2125550181", then="talk")
    assert (row["outcome"], row["reason"]) == ("missed", "no_answer")
    assert row["rang"] == ["100@phones", "101@phones"]


async def test_freepbx_ring_group_one_desk_answers_is_answered(pasted: Pbx, pbx: Listening) -> None:
    await pbx.lab.set_behaviour("phones", "101", "answer")
    row = await call_and_wait(pbx, DID_RINGGROUP, "2125550182", then="talk")
    assert row["outcome"] == "answered"


async def test_freepbx_queue_nobody_answers_and_the_caller_gives_up(
    pasted: Pbx, pbx: Listening
) -> None:
    # Queue 400 rings its members through Local/<ext>@from-queue/n and each extension's dialplan.
    row = await call_and_wait(pbx, DID_QUEUE, "2125550183", ring_timeout_ms=8000)
    assert (row["outcome"], row["reason"]) == ("missed", "queue_abandoned")
