"""The AGI and click-to-call against the real Asterisk lab (tests/lab; ``sudo labctl up``).

Needs the lab PBX's hand-made dialplan (tests/lab/etc/pbx/extensions_callback_desk_lab.conf):
*47 in [from-internal] and the [callback-desk-dial] context, both pointing at FastAGI
127.0.0.1:4573 — which this module serves in-process against the test database.
Skipped without the lab unless CALLBACK_DESK_REQUIRE_LAB=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agi.clicktocall import originate
from agi.config import load
from agi.queries import Callbacks
from agi.server import FastAgiServer
from callback_desk.core.config import Secret, Settings
from callback_desk.core.store import Store
from fakes.agi_runner import run_cli, toml_text
from fakes.poll import until
from fakes.settings import make_settings
from tests.agi_support import add_missed
from tests.conftest import as_role, unavailable
from tests.lab.lab import CLICK_TO_CALL_USER, PRODUCT_USER, Lab, lab_available

pytestmark = pytest.mark.lab

NEUTRAL_NUMBER = "+12125550100"
NEUTRAL_NAME = "Appointments"
AGI_PORT = 4573
AGI = {
    "callback_number": NEUTRAL_NUMBER,
    "callback_name": NEUTRAL_NAME,
    "dial_mode": "template",
    "dial_template": "PJSIP/{number}@carrier",
    "desk_channel": "PJSIP/{extension}@phones",
    "desk_ring_seconds": 15,
    "ami_username": CLICK_TO_CALL_USER["username"],
    "ami_secret": CLICK_TO_CALL_USER["secret"],
    "digit_timeout": 5.0,
    # Desk 100 hears the direct line, desk 101 the ring group.
    "extensions": {"100": ["2000"], "101": ["2001"]},
}


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    reason = await lab_available()
    if reason:
        unavailable("LAB", f"the lab is not running: {reason}")
    lab = await Lab.connect()
    try:
        await lab.reset_behaviours()
        lab.clear_events()
        yield lab
        await lab.wait_idle(timeout=60)
    finally:
        await lab.close()


def lab_settings(dsn: str) -> Settings:
    return make_settings(
        dsn,
        ami={
            "host": "127.0.0.1",
            "port": 5038,
            "username": PRODUCT_USER["username"],
            "secret": PRODUCT_USER["secret"],
        },
        pbx={"timezone": "America/New_York", "country": "US"},
        agi=AGI,
    )


# The lab PBX's dialplan reads this file (copied beside its extensions.conf) into the AGI URL.
LAB_SECRET = Path(__file__).parent / "etc" / "pbx" / "callback-desk-agi.secret"


@contextlib.asynccontextmanager
async def desk_server(settings: Settings, owner_dsn: str) -> AsyncIterator[FastAgiServer]:
    """The FastAGI server the lab dialplan points at, serving ``settings``' desk menu with the
    desk's rights only, as installed (sql/grants.sql)."""
    desk = await Store.open(make_settings(as_role(owner_dsn, "cbd_desk")).database)
    try:
        server = FastAgiServer(
            Callbacks(desk.pool),
            load(settings),
            settings.pbx.timezone,
            "127.0.0.1",
            AGI_PORT,
            Secret(LAB_SECRET.read_text().strip()),
        )
        await server.start()
        try:
            yield server
        finally:
            await server.close()
    finally:
        await desk.close()


@pytest.fixture
async def fastagi(db_dsn: str, owner_dsn: str) -> AsyncIterator[FastAgiServer]:
    async with desk_server(lab_settings(db_dsn), owner_dsn) as server:
        yield server


async def report_numbers(db_dsn: str, tmp_path: Path) -> list[str]:
    config = tmp_path / "report.toml"
    config.write_text(
        toml_text({"database": {"dsn": db_dsn}, "pbx": {"timezone": "America/New_York"}})
    )
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    rc, out, err = await run_cli(config, "report", "--format", "json", "--since", since)
    assert rc == 0, err
    return [json.dumps(entry) for entry in json.loads(out)["missed"]]


async def test_desk_dials_feature_code_and_calls_back_with_masked_caller_id(
    lab: Lab, fastagi: FastAgiServer, store: Store, db_dsn: str, tmp_path: Path
) -> None:
    call_id = await add_missed(store, "+12125550142", 30)
    assert any("2125550142" in e for e in await report_numbers(db_dsn, tmp_path))
    await lab.set_behaviour("carrier", "2125550142", "answer:4")
    # The desk dials *47 and presses 1 a few seconds in (during the count or the number).
    await lab.desk_call(
        "100", "*47", then="dtmf", variables={"KEYS": "1", "HOLD": "30"}, own_endpoint=True
    )

    received = await lab.carrier_received_callerid("2125550142", timeout=40)
    assert received.number in (NEUTRAL_NUMBER, NEUTRAL_NUMBER.removeprefix("+"))
    assert received.name == NEUTRAL_NAME

    async def answered() -> bool:
        row = await store.pool.fetchrow(
            "SELECT * FROM callback_attempts WHERE call_id = $1", call_id
        )
        return row is not None and row["dial_status"] == "ANSWER"

    await until(answered, timeout=40, what="an answered callback attempt")
    assert not any("2125550142" in e for e in await report_numbers(db_dsn, tmp_path))


async def test_a_desk_presenting_another_extensions_caller_id_gets_its_own_scope(
    lab: Lab, fastagi: FastAgiServer, store: Store
) -> None:
    # The attack: desk 100 sets its caller ID to 101 (the phone may: the PBX trusts its PAI)
    # to hear, and call, the callers of desk 101's line. The menu follows the endpoint.
    own = await add_missed(store, "+12125550148", 30)  # direct line 2000: desk 100's
    await add_missed(store, "+12125550149", 20, did="2001", rang=("101",))  # desk 101's
    await lab.set_behaviour("carrier", "2125550148", "answer:2")
    await lab.set_behaviour("carrier", "2125550149", "answer:2")
    await lab.desk_call(
        "100",
        "*47",
        then="dtmf",
        variables={"KEYS": "1", "HOLD": "20"},
        own_endpoint=True,
        callerid_num="101",
    )

    async def attempted() -> bool:
        return bool(await store.pool.fetchval("SELECT count(*) FROM callback_attempts"))

    await until(attempted, timeout=40, what="a callback attempt")
    rows = await store.pool.fetch("SELECT call_id, extension FROM callback_attempts")
    assert [(r["call_id"], r["extension"]) for r in rows] == [(own, "100")]


async def test_click_to_call_rings_the_desk_then_calls_back(
    lab: Lab, fastagi: FastAgiServer, store: Store, db_dsn: str, tmp_path: Path
) -> None:
    call_id = await add_missed(store, "+12125550143", 30)
    await lab.set_behaviour("phones", "100", "answer:20")
    await lab.set_behaviour("carrier", "2125550143", "answer:4")
    done = await originate(lab_settings(db_dsn), call_id, "100")

    desk = await lab.wait_received_callerid("phones", "100", timeout=20)
    assert "555-0143" in desk.name  # the desk's display says whom it will call
    received = await lab.carrier_received_callerid("2125550143", timeout=40)
    assert received.name == NEUTRAL_NAME
    assert received.number in (NEUTRAL_NUMBER, NEUTRAL_NUMBER.removeprefix("+"))

    async def linked() -> bool:
        row = await store.pool.fetchrow(
            "SELECT * FROM callback_attempts WHERE channel_id = $1", done.channel_id
        )
        return row is not None and row["dial_status"] == "ANSWER" and row["call_id"] == call_id

    await until(linked, timeout=40, what="the attempt linked to the Originate's ChannelId")
    assert not any("2125550143" in e for e in await report_numbers(db_dsn, tmp_path))


async def test_click_to_call_to_a_busy_desk_is_reported(
    lab: Lab, fastagi: FastAgiServer, store: Store, db_dsn: str
) -> None:
    from callback_desk.core.exceptions import DeskUnavailable

    call_id = await add_missed(store, "+12125550144", 30)
    await lab.set_behaviour("phones", "100", "busy")
    with pytest.raises(DeskUnavailable):
        await originate(lab_settings(db_dsn), call_id, "100")
    assert await store.pool.fetchval("SELECT count(*) FROM callback_attempts") == 0


async def test_a_desk_scoped_to_its_extension_calls_back_a_caller_the_queue_rang_on_it(
    lab: Lab, store: Store, db_dsn: str, owner_dsn: str, tmp_path: Path
) -> None:
    # The listener records a real queue call that rang desks 100 and 101 (dial strings such as
    # PJSIP/101@phones); desk 101 hears only its own extension. Before the one line scope, the
    # raw dial string never equalled "101" and click-to-call refused: "not on a line it hears".
    from ami_listener.listener import Listener
    from tests.lab.lab import DID_QUEUE

    settings = make_settings(
        db_dsn,
        ami={
            "host": "127.0.0.1",
            "port": 5038,
            "username": PRODUCT_USER["username"],
            "secret": PRODUCT_USER["secret"],
        },
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"], "country": "US"},
        listener={"settle_seconds": 1.0},
        agi={**AGI, "extensions": {"101": ["101"]}},
    )
    listener = Listener(settings, store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(15):
            await listener.wait_logged_in()
        call = await lab.inbound_call(DID_QUEUE, "2125550145", "Quinn", ring_timeout_ms=6000)
        await lab.wait_call_ended(call, timeout=60)

        async def recorded() -> bool:
            n = await store.pool.fetchval("SELECT count(*) FROM calls WHERE number = '2125550145'")
            return bool(n)

        await until(recorded, timeout=30, what="the queue call's row")
    finally:
        listener.stop()
        async with asyncio.timeout(15):
            await task
    row = await store.pool.fetchrow(
        "SELECT id, outcome, rang, extensions FROM calls WHERE number = '2125550145'"
    )
    assert row["outcome"] == "missed" and "101" in row["extensions"]
    assert "101" not in row["rang"]  # the raw dial strings are not the extension itself
    # A desk the queue did not ring still may not call back: the scope matches, it is not open.
    from callback_desk.core.exceptions import OutOfScope

    with pytest.raises(OutOfScope):
        await originate(make_settings(db_dsn, agi={**AGI, "extensions": {"102": ["102"]}}),
                        row["id"], "102")  # fmt: skip

    async with desk_server(settings, owner_dsn):
        await lab.set_behaviour("phones", "101", "answer:20")
        await lab.set_behaviour("carrier", "2125550145", "answer:4")
        done = await originate(settings, row["id"], "101")
        received = await lab.carrier_received_callerid("2125550145", timeout=40)
        assert received.number in (NEUTRAL_NUMBER, NEUTRAL_NUMBER.removeprefix("+"))

        async def answered() -> bool:
            status = await store.pool.fetchval(
                "SELECT dial_status FROM callback_attempts WHERE channel_id = $1", done.channel_id
            )
            return bool(status == "ANSWER")

        await until(answered, timeout=40, what="the desk's answered callback")
