"""Real calls through the real lab PBX, decided by the real listener, stored in PostgreSQL.

One test per case of the listener issue. Each test uses its own caller number and waits for that
number's row by polling; "no row" is proven with a sentinel missed call placed afterwards:
calls are decided in the order they end, so once the sentinel's row exists the earlier call has
been decided too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ami_listener.listener import Listener
from callback_desk.core.store import Store
from fakes.poll import until
from fakes.settings import make_settings
from tests.lab.lab import (
    DID_DIRECT,
    DID_IVR,
    DID_QUEUE,
    DID_RINGGROUP,
    PRODUCT_USER,
    Lab,
    LabError,
    field,
)
from tests.report_support import Sink, self_signed, start_smtp

pytestmark = pytest.mark.lab


class Pbx:
    """The listener running against the lab PBX, plus queries on what it wrote."""

    def __init__(self, lab: Lab, dsn: str, listener: Listener) -> None:
        self.lab = lab
        self.dsn = dsn
        self.listener = listener

    async def rows(self, number: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            result: list[asyncpg.Record] = await conn.fetch(
                "SELECT * FROM calls WHERE number = $1 ORDER BY id", number
            )
            return result
        finally:
            await conn.close()

    async def row(self, number: str, count: int = 1, timeout: float = 60) -> asyncpg.Record:
        async def ready() -> bool:
            return len(await self.rows(number)) >= count

        await until(ready, timeout, interval=0.2, what=f"{count} row(s) for {number}")
        rows = await self.rows(number)
        assert len(rows) == count, rows
        return rows[-1]

    async def sentinel(self, number: str) -> None:
        """A missed call that proves everything before it was decided."""
        await self.lab.set_behaviour("phones", "100", "ring")
        call = await self.lab.inbound_call(DID_DIRECT, number, "Sentinel", ring_timeout_ms=1500)
        await self.lab.wait_call_ended(call)
        await self.row(number)

    async def cli(self, *args: str, **env: str) -> str:
        """``callback-desk ARGS`` as a PBX admin would run it, on this test's database."""
        environ = {
            **os.environ,
            "CALLBACK_DESK_CONFIG": "/dev/null",
            "CALLBACK_DESK_DATABASE_DSN": self.dsn,
            **env,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callback_desk.cli", *args, env=environ,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    async def report(self, *args: str) -> dict[str, Any]:
        out = await self.cli("report", "--format", "json", "--since", "2000-01-01", *args)
        doc: dict[str, Any] = json.loads(out)
        return doc


@pytest.fixture
async def pbx(lab: Lab, store: Store, db_dsn: str) -> AsyncIterator[Pbx]:
    settings = make_settings(
        db_dsn,
        ami={
            "host": "127.0.0.1",
            "port": 5038,
            "username": PRODUCT_USER["username"],
            "secret": PRODUCT_USER["secret"],
        },
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"]},
        listener={"settle_seconds": 1.0},
    )
    listener = Listener(settings, store)
    task = asyncio.create_task(listener.run())
    async with asyncio.timeout(15):
        await listener.wait_logged_in()
    try:
        yield Pbx(lab, db_dsn, listener)
    finally:
        listener.stop()
        async with asyncio.timeout(15):
            await task


async def call_and_wait(pbx: Pbx, did: str, number: str, name: str = "Caller", **kw: Any) -> Any:
    call = await pbx.lab.inbound_call(did, number, name, **kw)
    await pbx.lab.wait_call_ended(call, timeout=90)
    return await pbx.row(number)


async def test_desk_answers(pbx: Pbx) -> None:
    await pbx.lab.set_behaviour("phones", "100", "answer")
    row = await call_and_wait(pbx, DID_DIRECT, "2125550101", then="talk")
    assert (row["outcome"], row["direction"], row["did"]) == ("answered", "inbound", "2000")


async def test_caller_hangs_up_while_ringing(pbx: Pbx) -> None:
    row = await call_and_wait(pbx, DID_DIRECT, "2125550102", ring_timeout_ms=3000)
    assert (row["outcome"], row["reason"], row["reached_voicemail"]) == (
        "missed",
        "hangup_while_ringing",
        False,
    )
    # The ring as the PBX itself timed it (its DialBegin to its DialEnd for this caller, from
    # the events' Timestamp), not a window of wall-clock seconds.
    assert row["ring_seconds"] > 0
    assert row["ring_seconds"] == pytest.approx(pbx_ring_seconds(pbx.lab, "2125550102"), abs=0.15)
    assert row["callable"] is True and row["number_key"] == "+12125550102"


def pbx_ring_seconds(lab: Lab, number: str) -> float:
    """From the PBX's first DialBegin for the caller ``number`` to its last DialEnd."""
    begins = [
        float(field(e, "Timestamp")) for e in lab.find("pbx", "DialBegin", CallerIDNum=number)
    ]
    ends = [float(field(e, "Timestamp")) for e in lab.find("pbx", "DialEnd", CallerIDNum=number)]
    assert begins and ends, f"the lab saw no Dial for {number}"
    return max(ends) - min(begins)


async def test_rings_out_and_caller_hangs_up_in_the_greeting(pbx: Pbx) -> None:
    row = await call_and_wait(pbx, DID_DIRECT, "2125550103", then="greeting")
    assert (row["outcome"], row["reason"], row["reached_voicemail"]) == (
        "missed",
        "voicemail_greeting",
        True,
    )
    assert row["ring_seconds"] >= 5.0


async def test_caller_leaves_a_voicemail(pbx: Pbx) -> None:
    row = await call_and_wait(pbx, DID_DIRECT, "2125550104", then="message")
    assert (row["outcome"], row["reason"], row["reached_voicemail"]) == (
        "voicemail",
        "voicemail_left",
        True,
    )


async def test_ring_group_one_phone_answers(pbx: Pbx) -> None:
    await pbx.lab.set_behaviour("phones", "101", "answer")
    row = await call_and_wait(pbx, DID_RINGGROUP, "2125550105", then="talk")
    assert row["outcome"] == "answered"
    assert row["rang"] == ["100@phones", "101@phones"]


async def test_ring_group_nobody_answers(pbx: Pbx) -> None:
    row = await call_and_wait(pbx, DID_RINGGROUP, "2125550106", then="talk")
    assert (row["outcome"], row["reason"]) == ("missed", "no_answer")


async def test_queue_nobody_answers_and_the_caller_gives_up(pbx: Pbx) -> None:
    row = await call_and_wait(pbx, DID_QUEUE, "2125550107", ring_timeout_ms=8000)
    assert (row["outcome"], row["reason"]) == ("missed", "queue_abandoned")


async def test_caller_hangs_up_in_the_ivr_menu(pbx: Pbx) -> None:
    row = await call_and_wait(pbx, DID_IVR, "2125550108", then="talk", variables={"HOLD": 3})
    assert (row["outcome"], row["reason"]) == ("missed", "ivr_hangup")


async def test_internal_call_is_not_recorded(pbx: Pbx) -> None:
    await pbx.lab.set_behaviour("phones", "101", "answer")
    call = await pbx.lab.desk_call("100", "101", then="talk", variables={"HOLD": 2})
    await pbx.lab.wait_call_ended(call, timeout=60)
    await pbx.lab.wait_pbx_idle(30)
    await pbx.sentinel("2125550199")
    assert await pbx.rows("100") == [] and await pbx.rows("101") == []


async def test_outbound_call_is_recorded_as_answered_outbound(pbx: Pbx) -> None:
    call = await pbx.lab.desk_call("100", "2125550110", then="talk", variables={"HOLD": 2})
    await pbx.lab.wait_call_ended(call, timeout=60)
    row = await pbx.row("2125550110")
    assert (row["direction"], row["outcome"], row["number_key"]) == (
        "outbound",
        "answered",
        "+12125550110",
    )


async def test_missed_caller_who_calls_again_and_gets_through_is_resolved(pbx: Pbx) -> None:
    await call_and_wait(pbx, DID_DIRECT, "2125550111", ring_timeout_ms=2000)
    assert [c["number"] for c in (await pbx.report())["missed"]] == ["+12125550111"]
    await pbx.lab.set_behaviour("phones", "100", "answer")
    # Called back from the same phone, this time written in international form.
    call = await pbx.lab.inbound_call(DID_DIRECT, "+12125550111", "Caller", then="talk")
    await pbx.lab.wait_call_ended(call, timeout=60)
    again = await pbx.row("+12125550111")
    assert again["outcome"] == "answered"
    assert (await pbx.report())["missed"] == []


async def test_outbound_call_to_a_missed_number_that_is_answered_resolves_it(pbx: Pbx) -> None:
    await call_and_wait(pbx, DID_DIRECT, "2125550112", ring_timeout_ms=2000)
    assert len((await pbx.report())["missed"]) == 1
    call = await pbx.lab.desk_call("100", "2125550112", then="talk", variables={"HOLD": 2})
    await pbx.lab.wait_call_ended(call, timeout=60)
    await pbx.row("2125550112", count=2)
    assert (await pbx.report())["missed"] == []


async def test_a_caller_not_returned_stays_on_every_morning_report_until_returned(
    pbx: Pbx,
) -> None:
    """The to-call-back list is a to-do list: tomorrow's and next week's default report (no
    --since: the look-back window) still list a caller missed today; a callback ends it."""
    await call_and_wait(pbx, DID_DIRECT, "2125550115", ring_timeout_ms=2000)
    today = datetime.now(UTC)
    mornings = [
        (today + timedelta(days=days)).replace(hour=8, minute=0, second=0, microsecond=0)
        for days in (1, 3, 7)
    ]

    async def listed(until_: datetime) -> list[dict[str, Any]]:
        out = await pbx.cli("report", "--format", "json", "--until", until_.isoformat())
        doc: dict[str, Any] = json.loads(out)
        return [c for c in doc["missed"] if c["number"] == "+12125550115"]

    for morning in mornings:
        [entry] = await listed(morning)
        assert entry["status"] == "awaiting", (morning, entry)
    # Returned from the desk phone: the same reports no longer list the caller.
    call = await pbx.lab.desk_call("100", "2125550115", then="talk", variables={"HOLD": 2})
    await pbx.lab.wait_call_ended(call, timeout=60)
    await pbx.row("2125550115", count=2)
    for morning in mornings:
        assert await listed(morning) == [], morning


async def test_anonymous_caller_is_recorded_but_not_callable(pbx: Pbx) -> None:
    call = await pbx.lab.inbound_call(
        DID_DIRECT, "2125550113", "Secret", withheld=True, ring_timeout_ms=2000
    )
    await pbx.lab.wait_call_ended(call, timeout=60)
    row = await pbx.row("anonymous")
    assert (row["outcome"], row["callable"], row["number_key"]) == ("missed", False, None)
    [entry] = (await pbx.report())["missed"]
    assert entry["callable"] is False


async def test_hostile_caller_id_is_stored_as_received(pbx: Pbx) -> None:
    name = 'Bob "The Builder", Jr & Co\nÄrger 日本 <x>'
    row = await call_and_wait(pbx, DID_DIRECT, "2125550114", name=name, ring_timeout_ms=2000)
    # Stored exactly as the PBX reported it on its own AMI (ground truth from the lab account).
    [seen] = pbx.lab.find("pbx", "Newchannel", CallerIDNum="2125550114", Context="from-pstn")
    assert row["name"] == seen["CallerIDName"]
    # SIP cannot carry a line break in a display name (the lab folds it to one space), and
    # Asterisk keeps the SIP escaping of quotes; everything else arrives untouched.
    assert row["name"].endswith(", Jr & Co Ärger 日本 <x>") and "The Builder" in row["name"]
    [entry] = (await pbx.report())["missed"]
    assert entry["name"] == row["name"]


async def test_report_after_a_mixed_run_lists_exactly_the_missed_unreturned_callers(
    pbx: Pbx,
) -> None:
    await pbx.lab.set_behaviour("phones", "100", "answer")
    await call_and_wait(pbx, DID_DIRECT, "2125550121", then="talk")  # answered
    await pbx.lab.set_behaviour("phones", "100", "ring")
    await call_and_wait(pbx, DID_DIRECT, "2125550122", ring_timeout_ms=2000)  # missed
    await call_and_wait(pbx, DID_IVR, "2125550123", then="talk", variables={"HOLD": 2})  # missed
    await call_and_wait(pbx, DID_DIRECT, "2125550124", ring_timeout_ms=2000)  # missed ...
    await pbx.lab.set_behaviour("phones", "100", "answer")
    call = await pbx.lab.inbound_call(DID_DIRECT, "2125550124", "Caller", then="talk")
    await pbx.lab.wait_call_ended(call, timeout=60)  # ... then gets through
    await pbx.row("2125550124", count=2)
    numbers = sorted(c["number"] for c in (await pbx.report())["missed"])
    assert numbers == ["+12125550122", "+12125550123"]


PBX_CONF = "/opt/pbx/etc/asterisk/asterisk.conf"


async def run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, (argv, err.decode())


def lab_root() -> str:
    return os.environ.get("CALLBACK_DESK_LAB_ROOT", "/var/cache/callback-desk/lab-root")


async def restart_pbx(crash: bool) -> None:
    """Restart the lab PBX: gracefully (``core restart now``) or as a crash (SIGKILL + start)."""
    asterisk = ["chroot", lab_root(), "/usr/sbin/asterisk", "-C", PBX_CONF]
    if not crash:
        await run(*asterisk, "-rx", "core restart now")
        return
    await run("pkill", "-KILL", "-f", f"^/usr/sbin/asterisk -C {PBX_CONF}$")

    async def started() -> bool:
        # Until the killed process has released its control socket, a new one refuses to start.
        proc = await asyncio.create_subprocess_exec(
            *asterisk,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await proc.wait() == 0

    await until(started, timeout=15, interval=0.3, what="the PBX to start again")


async def lab_pbx_answers(lab: Lab) -> bool:
    try:
        async with asyncio.timeout(1):
            await lab.action("pbx", "Ping")
    except (TimeoutError, LabError, ConnectionError):
        return False
    return True


@pytest.mark.parametrize(
    ("crash", "reason"), [(False, "no_answer"), (True, "unknown_end")], ids=["restart", "crash"]
)
async def test_listener_survives_asterisk_going_down_mid_call(
    pbx: Pbx, crash: bool, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    call = await pbx.lab.inbound_call(DID_DIRECT, "2125550130", "Caller", ring_timeout_ms=12000)
    await until(lambda: pbx.listener.tracker.open_calls == 1, what="call open in the listener")
    await restart_pbx(crash)
    # A graceful restart hangs the call up and says so; after a crash the listener never sees
    # the end, and closes the call when the fresh PBX's FullyBooted shows a low uptime.
    row = await pbx.row("2125550130", timeout=60)
    assert (row["outcome"], row["reason"]) == ("missed", reason)
    await pbx.lab.wait_call_ended(call, timeout=30)  # the caller gives up on a dead line
    await until(lambda: lab_pbx_answers(pbx.lab), timeout=30, what="lab back on the PBX")
    # The lab may be back before the listener (its reconnect backs off): a call placed before
    # it has logged in and read the new PBX's FullyBooted would be half seen.
    await until(
        lambda: any(getattr(r, "action", None) == "pbx_restart" for r in caplog.records),
        timeout=30,
        what="the listener back on the restarted PBX",
    )
    # The listener logged in again by itself: the next call is decided as usual.
    row = await call_and_wait(pbx, DID_DIRECT, "2125550131", ring_timeout_ms=2000)
    assert (row["outcome"], row["reason"]) == ("missed", "hangup_while_ringing")


async def test_morning_email_from_what_the_listener_wrote(pbx: Pbx, tmp_path: Path) -> None:
    """The whole chain: real calls -> listener -> PostgreSQL -> `report --email` -> SMTP."""
    await pbx.lab.set_behaviour("phones", "100", "answer")
    await call_and_wait(pbx, DID_DIRECT, "2125550141", then="talk")  # answered: not listed
    await pbx.lab.set_behaviour("phones", "100", "ring")
    await call_and_wait(pbx, DID_DIRECT, "2125550142", name="Zoë <b>&", ring_timeout_ms=2000)
    await call_and_wait(pbx, DID_DIRECT, "2125550143", then="greeting")
    sink = Sink()
    cert = self_signed(tmp_path)
    server, port = await start_smtp(sink, cert=cert)
    try:
        await pbx.cli(
            "report", "--email", "--since", "2000-01-01",
            CALLBACK_DESK_REPORT_EMAIL_TO="desk@example.org",
            CALLBACK_DESK_SMTP_HOST="127.0.0.1",
            CALLBACK_DESK_SMTP_PORT=str(port),
            CALLBACK_DESK_SMTP_CA_FILE=str(cert[0]),
            CALLBACK_DESK_SMTP_USERNAME="callback-desk",
            CALLBACK_DESK_SMTP_PASSWORD="s3cret pass",
            CALLBACK_DESK_SMTP_SENDER="reports@example.org",
            CALLBACK_DESK_REPORT_MASK_NUMBERS_IN_EMAIL="false",  # masked by default
        )  # fmt: skip
    finally:
        server.close()
        await server.wait_closed()
    [envelope] = sink.envelopes
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"].startswith("2 callers to call back")
    assert sink.tls_seen == [True]
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    text, page = plain.get_content(), html.get_content()
    for body in (text, page):
        assert "555-0142" in body and "555-0143" in body and "555-0141" not in body
    assert "Zoë &lt;b&gt;&amp;" in page and "<b>&" not in page
    assert "tel:" not in page  # [report] tel_links is off by default
