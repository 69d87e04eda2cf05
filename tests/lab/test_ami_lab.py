"""The AMI client against the real lab PBX: AMI over TLS (port 5039, certificate verified) for
the listener and click-to-call, and what each of the product's AMI accounts may really do."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from agi.clicktocall import originate
from ami_listener.listener import Listener
from callback_desk.core.ami import AmiClient
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import AmiUnavailable, DeskUnavailable
from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.store import Store
from fakes.poll import until
from fakes.settings import make_settings
from fakes.tls import make_pki
from tests.lab.lab import CLICK_TO_CALL_USER, DID_DIRECT, PRODUCT_USER, Lab

pytestmark = pytest.mark.lab

ROOT = Path(os.environ.get("CALLBACK_DESK_LAB_ROOT", "/var/cache/callback-desk/lab-root"))
# Made by `labctl up` (make_ami_tls): the CA that signed the lab PBX's AMI certificate.
LAB_CA = ROOT / "opt" / "pbx" / "etc" / "asterisk" / "keys" / "ami-ca.pem"

# What each account may run, as Asterisk itself lists it (ListCommands applies the same check
# as running the action: the account's write classes overlap the action's, or the action has
# no class at all). docs/security.md, "Each AMI account", says the same; keep them in sync.
# Actions every logged-in account may run (class 0), whatever its write classes:
ANY_ACCOUNT = {
    "BridgeDestroy",
    "BridgeInfo",
    "BridgeKick",
    "BridgeList",
    "BridgeTechnologyList",
    "BridgeTechnologySuspend",
    "BridgeTechnologyUnsuspend",
    "Challenge",
    "Events",
    "ListCommands",
    "Login",
    "Logoff",
    "Ping",
    "QueueChangePriorityCaller",
    "QueueReload",
    "QueueReset",
    "QueueRule",
    "QueueStatus",
    "QueueSummary",
    "QueueWithdrawCaller",
    "WaitEvent",
}
# write = reporting: the listener needs CoreShowChannels; the rest comes with the class.
REPORTING = {
    "ConfbridgeList",
    "ConfbridgeListRooms",
    "CoreSettings",
    "CoreShowChannelMap",
    "CoreShowChannels",
    "CoreStatus",
    "DBGet",
    "DBGetTree",
    "DeviceStateList",
    "ExtensionState",
    "ExtensionStateList",
    "FAXStats",
    "Getvar",
    "LoggerRotate",
    "MWIGet",
    "MailboxCount",
    "MailboxStatus",
    "MeetmeList",
    "MeetmeListRooms",
    "PJSIPQualify",
    "PJSIPRegister",
    "PJSIPShowMaintenance",
    "PJSIPShowRegistrationsOutbound",
    "PJSIPUnregister",
    "PresenceState",
    "PresenceStateList",
    "ShowDialPlan",
    "Status",
    "VoicemailBoxSummary",
    "VoicemailUserStatus",
    "VoicemailUsersList",
    "IAXnetstats",
    "IAXpeerlist",
    "IAXpeers",
    "IAXregistry",
}


@pytest.fixture
async def lab(lab: Lab) -> AsyncIterator[Lab]:
    if not LAB_CA.is_file():
        pytest.fail(f"{LAB_CA} is missing: run tests/lab/labctl up (it makes the AMI certificate)")
    yield lab


def tls_ami(username: str, secret: str, ca: Path = LAB_CA) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "tls": True,
        "ca_file": str(ca),
        "username": username,
        "secret": secret,
        "ping_interval": 5.0,
    }


async def commands(username: str, secret: str) -> set[str]:
    settings = make_settings(ami=tls_ami(username, secret))
    client = AmiClient.for_settings(settings.ami, events="off")
    try:
        await client.open()
        reply = await client.send_action({"Action": "ListCommands"}, timeout=10)
    finally:
        await client.aclose()
    assert isinstance(reply, dict) and reply.get("response") == "Success", reply
    # The reply lists "Name: Synopsis. Privilege: classes" per action, one header each.
    return {key for key in reply if key[:1].isalpha()} - {"response", "actionid"}


async def test_each_account_may_run_exactly_what_the_readme_says(lab: Lab) -> None:
    listed = await commands(PRODUCT_USER["username"], PRODUCT_USER["secret"])
    available = {name.lower() for name in ANY_ACCOUNT | REPORTING}
    # Modules that are not loaded in the lab (IAX2, MeetMe, fax) list nothing; anything the
    # lab lists beyond the documented set is a privilege the documentation does not mention.
    assert listed <= available, sorted(listed - available)
    assert {"coreshowchannels", "dbget", "getvar", "pjsipunregister", "bridgekick"} <= listed
    assert "originate" not in listed and "hangup" not in listed and "command" not in listed

    listed = await commands(CLICK_TO_CALL_USER["username"], CLICK_TO_CALL_USER["secret"])
    allowed = {name.lower() for name in ANY_ACCOUNT | {"Originate"}}
    assert listed <= allowed, sorted(listed - allowed)
    assert "originate" in listed and "coreshowchannels" not in listed and "dbget" not in listed


async def test_listener_over_tls_records_a_real_missed_call(
    lab: Lab, store: Store, db_dsn: str
) -> None:
    settings = make_settings(
        db_dsn,
        ami=tls_ami(PRODUCT_USER["username"], PRODUCT_USER["secret"]),
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"]},
        listener={"settle_seconds": 1.0},
    )
    assert settings.ami.port == 5039
    listener = Listener(settings, store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(15):
            await listener.wait_logged_in()
        await lab.set_behaviour("phones", "100", "ring")
        call = await lab.inbound_call(DID_DIRECT, "2125550171", "Over TLS", ring_timeout_ms=2000)
        await lab.wait_call_ended(call, timeout=60)

        async def recorded() -> bool:
            conn = await asyncpg.connect(db_dsn)
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM calls WHERE number = '2125550171'"
                        " AND outcome = 'missed'"
                    )
                )
            finally:
                await conn.close()

        await until(recorded, timeout=30, interval=0.2, what="the missed call, heard over TLS")
    finally:
        listener.stop()
        async with asyncio.timeout(15):
            await task


async def test_click_to_call_over_tls_reaches_the_desk(lab: Lab, store: Store, db_dsn: str) -> None:
    started = datetime.now(UTC) - timedelta(minutes=30)
    await store.record_call(
        "pbx",
        CallRecord(
            linkedid="tls-1",
            direction=Direction.INBOUND,
            outcome=Outcome.MISSED,
            reason=Reason.NO_ANSWER,
            number="+12125550172",
            name="Caller",
            number_key="+12125550172",
            callable=True,
            did="2000",
            rang=("100",),
            started_at=started,
            ended_at=started + timedelta(seconds=6),
            ring_seconds=6,
            reached_voicemail=False,
        ),
    )
    call_id = int(await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = 'tls-1'"))
    settings: Settings = make_settings(
        db_dsn,
        ami=tls_ami(PRODUCT_USER["username"], PRODUCT_USER["secret"]),
        pbx={"timezone": "America/New_York", "country": "US"},
        agi={
            "callback_number": "+12125550100",
            "desk_ring_seconds": 5,
            "ami_username": CLICK_TO_CALL_USER["username"],
            "ami_secret": CLICK_TO_CALL_USER["secret"],
        },
    )
    # A busy desk: the whole Originate round trip (queued, then OriginateResponse) over TLS
    # with the originate-only account, and no callback placed.
    await lab.set_behaviour("phones", "100", "busy")
    with pytest.raises(DeskUnavailable):
        await originate(settings, call_id, "100")


async def test_lab_pbx_with_an_untrusted_ca_is_refused(lab: Lab, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path, "stranger")
    settings = make_settings(
        ami=tls_ami(PRODUCT_USER["username"], PRODUCT_USER["secret"], ca=stranger.ca)
    )
    client = AmiClient.for_settings(settings.ami)
    try:
        with pytest.raises(AmiUnavailable, match="not trusted"):
            await client.open()
    finally:
        await client.aclose()
