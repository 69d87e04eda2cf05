"""The kept "awaiting a callback" state (sql/0009_awaiting_state.sql) is the rule's answer, whoever
writes and in whatever order.

After every step of a realistic day (the listener and a second listener, gap reconciliation, the
desk menu and click-to-call, the inbox, retention, each as its own database role) and after every
write of random sequences (every table, every kind of write, with ties in time), the table
``awaiting_calls`` must equal what the rule gives when it is rebuilt from the base tables alone,
and what the ``missed_calls`` view says call by call; each row must carry its call's values.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agi.queries import Callbacks
from callback_desk.core.awaiting import awaiting
from callback_desk.core.model import CallRecord, Disposition, Outcome, Reason
from callback_desk.core.store import Store
from callback_desk.web.store import WebStore
from fakes.settings import make_settings
from tests.conftest import as_role
from tests.report_support import call

# The rule over every number and every withheld call, ignoring awaiting_calls.
REBUILT = """
SELECT m.id
FROM awaiting_rule(
    ARRAY(SELECT DISTINCT number_key FROM calls
          WHERE outcome = 'missed' AND number_key IS NOT NULL),
    ARRAY(SELECT id FROM calls WHERE outcome = 'missed' AND number_key IS NULL)) m
ORDER BY m.id
"""
VIEW = "SELECT id FROM missed_calls WHERE returned_at IS NULL ORDER BY id"


async def assert_kept(conn: asyncpg.Connection) -> None:
    """awaiting_calls == the rule rebuilt from scratch == the view, and each row is its call's."""
    kept = await conn.fetch("SELECT * FROM awaiting_calls ORDER BY call_id")
    rebuilt = [r["id"] for r in await conn.fetch(REBUILT)]
    view = [r["id"] for r in await conn.fetch(VIEW)]
    assert [r["call_id"] for r in kept] == rebuilt, "the kept state drifted from the rule"
    assert rebuilt == view, "the rule and the missed_calls view disagree"
    calls = {r["id"]: r for r in await conn.fetch("SELECT * FROM calls WHERE id = ANY($1)", view)}
    for row in kept:
        c = calls[row["call_id"]]
        assert dict(row) == {
            "call_id": c["id"],
            "caller": c["number_key"] if c["number_key"] is not None else c["number"],
            "number": c["number"],
            "name": c["name"],
            "number_key": c["number_key"],
            "callable": c["callable"],
            "did": c["did"],
            "reason": c["reason"],
            "reached_voicemail": c["reached_voicemail"],
            "rang": sorted(set(c["rang"])),
            "extensions": sorted(set(c["extensions"])),
            "started_at": c["started_at"],
        }


# -- a realistic day, through the product's own writers and roles ------------------------------

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
NUMBERS = [f"212555{n:04d}" for n in range(1, 31)]


def _day(rng: random.Random, prefix: str, n: int) -> list[CallRecord]:
    """``n`` inbound calls over the last 20 days from a few repeat callers: missed (some with an
    unknown end), answered, a message left; one in ten withheld."""
    found = []
    for i in range(n):
        at = NOW - timedelta(days=20) + timedelta(minutes=rng.randrange(20 * 24 * 60))
        number = "anonymous" if rng.random() < 0.1 else rng.choice(NUMBERS)
        kind = rng.random()
        record = call(f"{prefix}{i}", at, number, rang=("PJSIP/100", "Local/101@from-queue/n"))
        if kind < 0.2:
            record = replace(record, outcome=Outcome.ANSWERED, reason=Reason.ANSWERED)
        elif kind < 0.3:
            record = replace(record, outcome=Outcome.VOICEMAIL, reason=Reason.VOICEMAIL_LEFT)
        elif kind < 0.4:
            record = replace(record, reason=Reason.UNKNOWN_END)
        found.append(record)
    return found


async def _opened(dsn: str, role: str) -> Store:
    return await Store.open(make_settings(as_role(dsn, role)).database)


async def test_a_day_of_every_writer_keeps_the_state_equal_to_its_rebuild(owner_dsn: str) -> None:
    rng = random.Random(18)
    owner = await asyncpg.connect(owner_dsn)
    listener = await _opened(owner_dsn, "cbd_listener")
    desk_store = await _opened(owner_dsn, "cbd_desk")
    web_store = await _opened(owner_dsn, "cbd_web")
    purge = await _opened(owner_dsn, "cbd_purge")
    try:
        # The listener, in batches as it writes them.
        calls = _day(rng, "live-", 160)
        for i in range(0, len(calls), 25):
            await listener.record_calls("pbx", calls[i : i + 25])
        await assert_kept(owner)

        # A second listener on the same PBX: the same calls, some with more evidence (someone
        # answered after all; an end it saw that the first missed).
        second = [
            replace(c, outcome=Outcome.ANSWERED, reason=Reason.ANSWERED)
            if c.outcome is Outcome.MISSED and rng.random() < 0.15
            else replace(c, reason=Reason.NO_ANSWER)
            if c.reason is Reason.UNKNOWN_END
            else c
            for c in calls
        ]
        await listener.record_calls("pbx", second)
        await assert_kept(owner)

        # A gap nobody listened to, filled from the PBX's records: new calls, and calls already
        # seen live (equal evidence: the first row stays).
        gap = await listener.record_gap(
            "pbx", "l1", NOW - timedelta(days=3), NOW - timedelta(days=2), "startup"
        )
        filled = _day(rng, "gap-", 30) + calls[:10]
        await listener.record_calls("pbx", filled, gap)
        await assert_kept(owner)

        # The desk: callbacks from the menu and click-to-call, answered or not, one withdrawn
        # before it dialled; dispositions from the phone.
        desk = Callbacks(desk_store.pool)
        waiting = await desk.waiting(("*",), NOW - timedelta(days=14), NOW)
        assert waiting
        for waiter in waiting[:12]:
            attempt = await desk.start_attempt(waiter.call_id, "100", None)
            status = rng.choice(["ANSWER", "NOANSWER", "BUSY", "ANSWER"])
            assert await desk.finish_attempt(attempt, status, 30 if status == "ANSWER" else 0)
            await assert_kept(owner)
        withdrawn = await desk.start_attempt(waiting[12].call_id, "100", None)
        assert await desk.discard_attempt(withdrawn)
        await desk.dispose(waiting[13].call_id, waiting[13].number_key, Disposition.HANDLED, "100")
        await assert_kept(owner)

        # The inbox: handled and never, by a signed-in user.
        web = WebStore(web_store.pool)
        jane = await web.add_user("jane", "", "frontdesk", ("100",), "$argon2id$jane")
        assert await web.start_session("s" * 32, jane, "")
        left = await awaiting(web_store.pool, scope=("*",), now=NOW)
        for caller, verdict in zip(left[:6], ["handled", "never"] * 3, strict=True):
            assert await web.dispose("s" * 32, caller.last_call_id, verdict)
        await assert_kept(owner)
        # Jane undoes two of her marks within the window (sql/0012_admin.sql).
        for undone in (await web.undoable("jane", timedelta(minutes=5)))[:2]:
            assert await web.undo("s" * 32, undone.id, timedelta(minutes=5)) == undone.call_id
            await assert_kept(owner)

        # A callback still "running" a day later is closed as UNKNOWN; retention removes the
        # oldest calls with everything attached to them.
        await desk.start_attempt(left[7].last_call_id, "101", None)
        await purge.close_stale_attempts(NOW + timedelta(days=2))
        await assert_kept(owner)
        await purge.purge(NOW - timedelta(days=12))
        await assert_kept(owner)
        assert await owner.fetchval("SELECT count(*) FROM awaiting_calls") > 0
    finally:
        for s in (listener, desk_store, web_store, purge):
            await s.close()
        await owner.close()


async def test_the_lists_read_the_kept_state(store: Store) -> None:
    """What the report, the menu and the inbox show follows the kept state at once."""
    at = NOW - timedelta(hours=3)
    await store.record_call("pbx", call("m1", at, "2125550101"))
    await store.record_call("pbx", call("m2", at + timedelta(minutes=1), "2125550102"))
    assert len(await awaiting(store.pool, scope=("*",), now=NOW)) == 2
    # The first caller calls again and gets through: gone from the report and the menu.
    got_through = call("m3", at + timedelta(hours=1), "2125550101")
    await store.record_call(
        "pbx", replace(got_through, outcome=Outcome.ANSWERED, reason=Reason.ANSWERED)
    )
    [left] = await awaiting(store.pool, scope=("*",), now=NOW)
    assert left.number_key == "+12125550102"
    [menu] = await Callbacks(store.pool).waiting(("*",), NOW - timedelta(days=14), NOW)
    assert menu.number_key == "+12125550102"


# -- no component may write the state itself --------------------------------------------------


@pytest.mark.parametrize("role", ["cbd_listener", "cbd_desk", "cbd_web", "cbd_report", "cbd_purge"])
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO awaiting_calls SELECT * FROM awaiting_calls",
        "DELETE FROM awaiting_calls",
        "UPDATE awaiting_calls SET started_at = now()",
        "SELECT awaiting_refresh(ARRAY['+12125550101'], '{}')",
        "SELECT awaiting_rebuild()",
    ],
)
async def test_a_component_cannot_forge_or_hide_who_awaits(
    owner_dsn: str, role: str, statement: str
) -> None:
    """A compromised component could make a caller vanish from every list (or appear in one
    as still waiting, to be dialled) by writing the state; only the triggers write it."""
    conn = await asyncpg.connect(as_role(owner_dsn, role))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


# -- two writers at once -----------------------------------------------------------------------


async def test_a_caller_marked_while_their_call_is_written_is_not_left_waiting(
    owner_dsn: str,
) -> None:
    """The listener writes a missed call from a number while, in another transaction, someone
    marks that number handled. Each statement decides from its own snapshot; without the
    state's lock the marking's trigger would not see the call and the call would stay on every
    list although the rule says it was handled."""
    first = await asyncpg.connect(owner_dsn)
    second = await asyncpg.connect(owner_dsn)
    try:
        writing = first.transaction()
        await writing.start()
        await first.execute(
            "INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, number_key,"
            " callable, started_at, ended_at) VALUES ('pbx', 'race', 'inbound', 'missed',"
            " 'no_answer', '2125550101', '+12125550101', true, now() - interval '1 minute',"
            " now())"
        )
        marking = asyncio.create_task(
            second.execute(
                "INSERT INTO caller_dispositions (number_key, disposition, decided_at)"
                " VALUES ('+12125550101', 'handled', clock_timestamp())"
            )
        )
        await asyncio.sleep(0.3)
        assert not marking.done(), "the marking did not wait for the other writer"
        await writing.commit()
        await marking
        await assert_kept(first)
        assert await first.fetchval("SELECT count(*) FROM awaiting_calls") == 0
    finally:
        await first.close()
        await second.close()


async def test_writes_at_repeatable_read_are_refused(store: Store) -> None:
    """Such a transaction's snapshot predates the lock: it could not see the other writer."""
    async with store.pool.acquire() as conn:
        with pytest.raises(asyncpg.InvalidTransactionStateError, match="READ COMMITTED"):
            async with conn.transaction(isolation="repeatable_read"):
                await conn.execute(
                    "INSERT INTO caller_dispositions (number_key, disposition)"
                    " VALUES ('+12125550101', 'never')"
                )


# -- random sequences of writes ----------------------------------------------------------------

KEYS = ["+12125550101", "+12125550102", None]  # None: withheld
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _at(minute: int) -> datetime:
    # Few distinct moments, so events often fall at the very moment of a call (ties).
    return T0 + timedelta(minutes=minute)


MINUTE = st.integers(0, 5)
PICK = st.integers(0, 50)
CALL = st.tuples(
    st.just("call"),
    st.sampled_from(KEYS),
    st.sampled_from(
        [
            ("inbound", "missed"),
            ("inbound", "answered"),
            ("inbound", "voicemail"),
            ("outbound", "answered"),
        ]
    ),
    MINUTE,
    st.integers(0, 9),  # linkedid: a repeat is a second writer of the same call
)
OTHER = st.one_of(
    st.tuples(st.just("recall"), PICK, st.sampled_from(KEYS), MINUTE),
    st.tuples(st.just("upgrade"), PICK),
    st.tuples(st.just("drop_call"), PICK),
    st.tuples(st.just("purge"), MINUTE),
    st.tuples(st.just("attempt"), PICK, st.sampled_from([None, "ANSWER", "NOANSWER"]), MINUTE),
    st.tuples(st.just("finish"), PICK, st.sampled_from(["ANSWER", "BUSY"])),
    st.tuples(st.just("drop_attempt"), PICK),
    st.tuples(
        st.just("mark"),
        st.one_of(st.none(), PICK),
        st.sampled_from(KEYS),
        st.sampled_from(["handled", "never"]),
        MINUTE,
    ),
    st.tuples(st.just("remark"), PICK, MINUTE),
    st.tuples(st.just("unmark"), PICK),
    st.tuples(st.just("truncate"), st.sampled_from(["callback_attempts", "caller_dispositions"])),
)
# Several calls in one statement, as the listener writes them: a missed call and an answered
# one of the same number, withheld calls, new numbers (calls' INSERT trigger,
# sql/0014_listener_batches.sql, adds the missed ones without a full refresh).
BATCH = st.tuples(st.just("batch"), st.lists(CALL, min_size=2, max_size=6))
# Calls are four writes in ten: the most common, and without them the rest has nothing to act on.
OPS = st.integers(0, 9).flatmap(lambda n: CALL if n < 3 else BATCH if n < 4 else OTHER)


_REASONS = {"missed": "no_answer", "answered": "answered", "voicemail": "voicemail_left"}


async def _ids(conn: asyncpg.Connection, table: str) -> list[int]:
    return [r["id"] for r in await conn.fetch(f"SELECT id FROM {table} ORDER BY id")]


def _pick(ids: Sequence[int], n: int) -> int | None:
    return ids[n % len(ids)] if ids else None


async def _apply(conn: asyncpg.Connection, op: tuple[Any, ...]) -> None:
    kind = op[0]
    calls = await _ids(conn, "calls")
    attempts = await _ids(conn, "callback_attempts")
    marks = await _ids(conn, "caller_dispositions")
    if kind in ("call", "batch"):
        # As the listener writes: a second write of one call replaces it only with more evidence;
        # one statement never holds one linkedid twice (DO UPDATE cannot touch a row twice).
        written = {c[4]: c for c in ([op] if kind == "call" else op[1])}.values()
        await conn.execute(
            "INSERT INTO calls AS c (pbx, linkedid, direction, outcome, reason, number,"
            " number_key, callable, rang, started_at, ended_at)"
            " SELECT 'pbx', u.l, u.d, u.o, u.r, coalesce(u.k, 'anonymous'), u.k, u.k IS NOT NULL,"
            " '{PJSIP/100,Local/101@from-queue/n,PJSIP/100}', u.t, u.t"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::timestamptz[]) AS u (l, d, o, r, k, t)"
            " ON CONFLICT (pbx, linkedid) DO UPDATE SET outcome = EXCLUDED.outcome,"
            " reason = EXCLUDED.reason, number_key = EXCLUDED.number_key"
            " WHERE call_evidence(EXCLUDED.outcome, EXCLUDED.reason)"
            " > call_evidence(c.outcome, c.reason)",
            [f"l{c[4]}" for c in written],
            [c[2][0] for c in written],
            [c[2][1] for c in written],
            [_REASONS[c[2][1]] for c in written],
            [c[1] for c in written],
            [_at(c[3]) for c in written],
        )
    elif kind == "recall" and (target := _pick(calls, op[1])):
        await conn.execute(
            "UPDATE calls SET number_key = $2, started_at = $3, ended_at = $3 WHERE id = $1",
            target,
            op[2],
            _at(op[3]),
        )
    elif kind == "upgrade" and (target := _pick(calls, op[1])):
        await conn.execute(
            "UPDATE calls SET outcome = 'answered', reason = 'answered' WHERE id = $1", target
        )
    elif kind == "drop_call" and (target := _pick(calls, op[1])):
        await conn.execute("DELETE FROM calls WHERE id = $1", target)
    elif kind == "purge":
        await conn.execute("DELETE FROM calls WHERE started_at < $1", _at(op[1]))
    elif kind == "attempt" and (target := _pick(calls, op[1])):
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension, dial_status, started_at)"
            " VALUES ($1, '100', $2, $3)",
            target,
            op[2],
            _at(op[3]),
        )
    elif kind == "finish" and (target := _pick(attempts, op[1])):
        await conn.execute(
            "UPDATE callback_attempts SET dial_status = $2 WHERE id = $1", target, op[2]
        )
    elif kind == "drop_attempt" and (target := _pick(attempts, op[1])):
        await conn.execute("DELETE FROM callback_attempts WHERE id = $1", target)
    elif kind == "mark":
        _, pick, key, disposition, minute = op
        on_call = None if pick is None else _pick(calls, pick)
        if on_call is None and key is None:
            return
        await conn.execute(
            "INSERT INTO caller_dispositions (call_id, number_key, disposition, decided_at)"
            " VALUES ($1, $2, $3, $4)",
            on_call,
            key,
            disposition,
            _at(minute),
        )
    elif kind == "remark" and (target := _pick(marks, op[1])):
        await conn.execute(
            "UPDATE caller_dispositions SET decided_at = $2 WHERE id = $1", target, _at(op[2])
        )
    elif kind == "unmark" and (target := _pick(marks, op[1])):
        await conn.execute("DELETE FROM caller_dispositions WHERE id = $1", target)
    elif kind == "truncate":
        await conn.execute(f"TRUNCATE {op[1]}")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=10, max_size=40))
# A call answered at the very moment of a missed one from the same number: not "after" it.
@example(
    ops=[
        ("call", KEYS[0], ("inbound", "missed"), 3, 0),
        ("call", KEYS[0], ("inbound", "answered"), 3, 1),
    ]
)
# One statement that returns a number's earlier missed calls and adds new ones, a withheld one,
# and one from a number marked never: the batch path and the refresh path in one trigger.
@example(
    ops=[
        ("call", KEYS[0], ("inbound", "missed"), 1, 0),
        (
            "batch",
            [
                ("call", KEYS[0], ("inbound", "missed"), 2, 1),
                ("call", KEYS[0], ("inbound", "answered"), 3, 2),
                ("call", KEYS[0], ("inbound", "missed"), 4, 3),
                ("call", None, ("inbound", "missed"), 3, 4),
                ("call", KEYS[1], ("inbound", "missed"), 4, 5),
            ],
        ),
        ("mark", None, KEYS[1], "never", 0),
        (
            "batch",
            [
                ("call", KEYS[1], ("inbound", "missed"), 5, 6),
                ("call", KEYS[0], ("inbound", "missed"), 5, 7),
                ("call", None, ("outbound", "answered"), 5, 8),
            ],
        ),
    ]
)
def test_random_writes_keep_the_state_equal_to_its_rebuild(
    owner_dsn: str, ops: list[tuple[Any, ...]]
) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(owner_dsn)
        try:
            # Each example in a transaction rolled back at the end: the next starts empty.
            tx = conn.transaction()
            await tx.start()
            try:
                for op in ops:
                    await _apply(conn, op)
                    await assert_kept(conn)
            finally:
                await tx.rollback()
        finally:
            await conn.close()

    asyncio.run(run())


async def test_the_summary_is_the_one_the_lists_always_gave(store: Store) -> None:
    """Callers grouped over their unreturned calls: latest values, counts, new calls, every
    line they rang (sorted, once), attempts since their first unreturned call."""
    at = NOW - timedelta(days=2)
    number = "2125550101"
    await store.record_calls(
        "pbx",
        [
            call("a", at, number, rang=("PJSIP/101", "Local/100@from-queue/n"), did="2001"),
            call("b", at + timedelta(hours=1), number, rang=("100@phones",), name="Later"),
            call("c", at + timedelta(hours=2), "anonymous", number_key=None, callable=False),
        ],
    )
    first = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = 'a'")
    await store.pool.execute(
        "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
        " VALUES ($1, '100', $2, 'NOANSWER')",
        first,
        at + timedelta(minutes=30),
    )
    found = await awaiting(store.pool, scope=("*",), now=NOW, new_since=at + timedelta(minutes=90))
    [withheld, caller] = found
    assert (withheld.number, withheld.calls, withheld.callable) == ("anonymous", 1, False)
    assert caller.number_key == "+12125550101"
    assert (caller.name, caller.did, caller.calls, caller.new_calls) == ("Later", "2000", 2, 0)
    assert caller.rang == ("100@phones", "Local/100@from-queue/n", "PJSIP/101")
    assert caller.extensions == ("100", "101")
    assert (caller.attempts, caller.first_at, caller.last_at) == (1, at, at + timedelta(hours=1))
    assert caller.last_attempt_at == at + timedelta(minutes=30)
    assert withheld.new_calls == 1
