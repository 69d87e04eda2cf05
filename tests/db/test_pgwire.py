"""The classic AGI's synchronous PostgreSQL client (callback_desk/core/pgwire.py): against the real
server for values, errors and the named queries; the DSN forms it hands to asyncpg; its
authentication against the RFC's own SCRAM exchange."""

from __future__ import annotations

import base64
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callback_desk.core import pgwire
from callback_desk.core.awaiting import AwaitingCaller, awaiting, awaiting_rows, values
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.exceptions import SchemaError, StoreError, StoreTimeout, StoreUnavailable
from callback_desk.core.store import Store
from tests.agi_support import add_missed
from tests.report_support import call


async def test_a_role_in_the_dsn_is_the_sessions_role(owner_dsn: str) -> None:
    # The tests' db_role DSNs (and any other server setting in a DSN) reach the server at login,
    # as asyncpg sends them: the session runs with that role's rights only.
    conn = connect(owner_dsn + ("&" if "?" in owner_dsn else "?") + "role=cbd_desk")
    try:
        assert conn.fetchval("SELECT current_user") == "cbd_desk"
    finally:
        conn.close()


def connect(dsn: str) -> pgwire.Connection:
    return pgwire.Connection.open(pgwire.parse_dsn(dsn, environ={}), 5.0)


def test_values_come_back_as_asyncpg_gives_them(db_dsn: str) -> None:
    conn = connect(db_dsn)
    try:
        row = conn.fetchrow(
            "SELECT $1::int8 AS big, $2::text AS t, $3::bool AS b, $4::timestamptz AS at, "
            "$5::text[] AS arr, NULL::text AS nothing, 1.5::numeric AS num, "
            "'2024-02-29'::date AS day, 'infinity'::timestamptz AS forever, "
            "ARRAY[]::text[] AS empty, ARRAY[1, NULL, 3]::int4[] AS ints",
            2**40,
            'é "quoted" \\ back',
            False,
            datetime(2024, 5, 1, 10, 11, 12, 345678, tzinfo=UTC),
            ["a", 'b "c"', "d,e", "NULL", None, "{x}", "back\\slash"],
        )
    finally:
        conn.close()
    assert row == {
        "big": 2**40,
        "t": 'é "quoted" \\ back',
        "b": False,
        "at": datetime(2024, 5, 1, 10, 11, 12, 345678, tzinfo=UTC),
        "arr": ["a", 'b "c"', "d,e", "NULL", None, "{x}", "back\\slash"],
        "nothing": None,
        "num": Decimal("1.5"),
        "day": date(2024, 2, 29),
        "forever": datetime.max.replace(tzinfo=UTC),
        "empty": [],
        "ints": [1, None, 3],
    }


def test_a_result_larger_than_a_read_comes_back_whole_and_in_step(db_dsn: str) -> None:
    # Rows are read where they lie in the receive buffer (a report of every line reads tens of
    # thousands): messages cut by the end of a read, multi-byte text, arrays with and without
    # quoted elements, then the next statement on the same connection.
    conn = connect(db_dsn)
    try:
        rows = conn.fetch(
            "SELECT g AS n, repeat('é', g % 500) AS t, ARRAY[g::text, NULL, 'a b'] AS quoted,"
            " ARRAY['x' || g, NULL, 'y'] AS plain FROM generate_series(1, $1::int) AS g",
            5000,
        )
        assert conn.fetchval("SELECT 'next'") == "next"
    finally:
        conn.close()
    assert rows == [
        {
            "n": g,
            "t": "é" * (g % 500),
            "quoted": [str(g), None, "a b"],
            "plain": [f"x{g}", None, "y"],
        }
        for g in range(1, 5001)
    ]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
        )
    )
)
def test_text_arrays_survive_the_round_trip(values: list[str | None]) -> None:
    text = pgwire.encode(values)
    assert text is not None
    # PostgreSQL's own reading of the literal is checked against the server above; here the
    # client reads back what it wrote, quote for quote.
    assert pgwire.parse_array(text.decode(), str) == values


async def test_the_awaiting_query_gives_the_same_callers_over_both_clients(
    db_dsn: str, store: Store
) -> None:
    for minutes, number in enumerate(["+12125550101", "+12125550102", "+12125550101"]):
        await add_missed(store, number, 10 + minutes)
    now = datetime.now(UTC)
    over_asyncpg = await awaiting(store.pool, scope=("*",), now=now)
    conn = connect(db_dsn)
    try:
        wire = pgwire.WirePool(conn)
        assert await awaiting(wire, scope=("*",), now=now) == over_asyncpg
    finally:
        conn.close()
    assert [c.calls for c in over_asyncpg] == [2, 1]


async def test_the_awaiting_rows_read_as_one_document_are_the_rows_over_both_clients(
    db_dsn: str, store: Store
) -> None:
    # awaiting_rows reads the callers as one JSON value (awaiting_document): the same rows, in
    # the same order, with the same values and types as asyncpg decodes the summary's own rows.
    now = datetime.now(UTC).replace(microsecond=0)
    hostile = 'O\'Brien "x" \\ Ärger 日本\x1b[2J\u2028\u202e,{}'
    await store.record_call("pbx", call("h1", now - timedelta(hours=3), "2125550123"))
    later = now - timedelta(hours=2, microseconds=7)
    rang = ('a "b",c', "Local/101@x/n")
    await store.record_call("pbx", call("h2", later, "2125550123", name=hostile, rang=rang))
    await store.record_call("pbx", call("w1", now - timedelta(hours=1), "anonymous", name=""))
    await store.record_call("pbx", call("p1", now - timedelta(minutes=5), "+442079460123"))
    async with store.pool.acquire() as conn:
        first = await conn.fetchval("SELECT id FROM calls WHERE linkedid = 'h1'")
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
            " VALUES ($1, '100', $2, 'NOANSWER')",
            first,
            now - timedelta(minutes=30),
        )
        args = (now - timedelta(days=1), now, None, now - timedelta(hours=1, minutes=30), False)
        expected = [
            dict(r)
            for r in await conn.fetch(
                "SELECT c.*, t.attempts, t.last_attempt_at"
                " FROM awaiting_callers($1, $2, $3, $4, $5) c"
                " CROSS JOIN LATERAL attempts_since(c.number_key, c.first_at) t"
                " ORDER BY c.last_at DESC, c.caller",
                *args,
            )
        ]
    assert len(expected) == 3 and expected[-1]["last_attempt_at"] is not None
    expected = [values(r) for r in expected]  # arrays as tuples

    async def read(db: Any) -> Any:
        got = await awaiting_rows(
            db, scope=("*",), now=now, lookback=timedelta(days=1), new_since=args[3]
        )
        # By name: the document says which value of a row is which.
        return [dict(zip(got.columns, row, strict=True)) for row in got.rows]

    assert await read(store.pool) == expected
    # JSON writes timestamps in the session's time zone, which asyncpg leaves to the server.
    elsewhere = await asyncpg.connect(db_dsn, server_settings={"TimeZone": "America/New_York"})
    try:
        assert await read(elsewhere) == expected
    finally:
        await elsewhere.close()
    wire = connect(db_dsn)
    try:
        got = await read(pgwire.WirePool(wire))
    finally:
        wire.close()
    assert got == expected
    moments = [r[k] for r in got for k in ("first_at", "last_at", "last_attempt_at") if r[k]]
    assert {m.tzinfo for m in moments} == {UTC}
    assert got[-1]["name"] == hostile and rang[0] in got[-1]["rang"]
    assert set(got[0]) == {"caller", *AwaitingCaller._fields}


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT * FROM no_such_table", SchemaError),
        ("SELECT no_such_column FROM calls", SchemaError),
        ("SET statement_timeout = 1; SELECT pg_sleep(1)", None),  # one statement only: refused
        ("SELECT 1/0", StoreError),
    ],
)
async def test_server_errors_enter_our_tree_without_the_servers_message(
    db_dsn: str, sql: str, error: type[StoreError] | None
) -> None:
    conn = connect(db_dsn)
    try:
        with pytest.raises(StoreError) as raised:
            async with mapped_errors("testing"):
                await pgwire.WirePool(conn).fetch(sql)
        if error is not None:
            assert type(raised.value) is error
        assert "division" not in str(raised.value)  # SQLSTATE only, never the message
        # After an error the connection is still usable: the server skipped to the Sync.
        assert conn.fetchval("SELECT 41 + 1") == 42
    finally:
        conn.close()


async def test_statement_timeout_is_a_timeout_and_a_dead_server_is_unavailable(
    db_dsn: str,
) -> None:
    conn = connect(db_dsn)
    try:
        conn.fetch("SET statement_timeout = '50ms'")
        with pytest.raises(StoreTimeout):
            async with mapped_errors("testing"):
                await pgwire.WirePool(conn).fetch("SELECT pg_sleep(1)")
    finally:
        conn.close()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(StoreUnavailable):
        async with mapped_errors("connecting"):
            connect(f"postgresql://postgres@127.0.0.1:{port}/x")


def test_a_server_that_does_not_answer_in_time_is_a_timeout() -> None:
    # The attack: a "database" that accepts and then says nothing must not hang the desk.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            pgwire.Connection.open(pgwire.parse_dsn(f"postgresql://u@127.0.0.1:{port}/d", {}), 0.3)
    finally:
        listener.close()


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:p@127.0.0.1/db?sslmode=verify-full",
        "postgresql://u:p@127.0.0.1/db?sslmode=verify-ca",
        "postgresql://u:p@127.0.0.1/db?sslmode=allow",
        "postgresql://u:p@127.0.0.1/db?sslrootcert=/etc/ca.pem",
        "postgresql://u:p@127.0.0.1/db?passfile=/root/.pgpass",
        "postgresql://u:p@127.0.0.1/db?target_session_attrs=read-write",
        "postgresql://u:p@127.0.0.1/db?service=desk",
        "postgresql://u:p@h1,h2/db",
        "postgresql://u:p@[::1]/db",
        "postgresql://u:p@a@b/db",
        "mysql://u:p@127.0.0.1/db",
        "host=127.0.0.1 dbname=x",
    ],
)
def test_what_only_asyncpg_reads_is_left_to_it(dsn: str) -> None:
    with pytest.raises(pgwire.Unsupported):
        pgwire.parse_dsn(dsn, environ={})


def test_pg_environment_variables_leave_the_dsn_to_asyncpg() -> None:
    with pytest.raises(pgwire.Unsupported):
        pgwire.parse_dsn("postgresql://u:p@127.0.0.1/db", environ={"PGSSLMODE": "verify-full"})


def test_dsn_parts_are_read_as_asyncpg_reads_them() -> None:
    dsn = pgwire.parse_dsn("postgresql://cbd%40desk:p%3Aw%2Fd@db.local:6543/call%20backs", {})
    assert dsn == pgwire.Dsn(("db.local",), 6543, "cbd@desk", "p:w/d", "call backs", "prefer")
    local = pgwire.parse_dsn("postgresql:///callback_desk?host=/run/postgresql", {})
    assert local.hosts == ("/run/postgresql",) and local.database == "callback_desk"
    default = pgwire.parse_dsn("postgresql:///callback_desk", {})
    assert default.hosts == pgwire.DEFAULT_HOSTS and default.password is None
    # The URL's parts win over the query's; any other parameter is a server setting.
    both = pgwire.parse_dsn(
        "postgresql://a@h:1/d?host=x&port=2&user=b&dbname=e&role=cbd_desk&application_name=z", {}
    )
    assert (both.hosts, both.port, both.user, both.database) == (("h",), 1, "a", "d")
    assert both.settings == (("application_name", "z"), ("role", "cbd_desk"))
    query_only = pgwire.parse_dsn("postgresql://?host=/tmp&user=b&password=c&dbname=e", {})
    assert (query_only.hosts, query_only.user, query_only.password, query_only.database) == (
        ("/tmp",),
        "b",
        "c",
        "e",
    )


def test_scram_is_rfc_7677s_exchange() -> None:
    # RFC 7677, section 3, message for message: user "user", password "pencil".
    scram = pgwire._Scram("pencil", nonce="rOprNGfwEbeRWgbNEkqO", name="user")
    assert scram.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = scram.final(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    with pytest.raises(ConnectionResetError):
        scram.verify(b"v=" + base64.b64encode(b"\0" * 32))  # a server that does not know it


def test_scram_refuses_a_server_that_changes_the_nonce() -> None:
    scram = pgwire._Scram("pencil", nonce="abc")
    with pytest.raises(ConnectionResetError):
        scram.final(b"r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")


def fake_server(script: list[bytes]) -> tuple[int, threading.Thread, list[bytes]]:
    """A strict one-connection server: sends ``script`` after reading the startup message,
    records what the client sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.settimeout(5)
            received.append(conn.recv(65536))
            for message in script:
                conn.sendall(message)
                try:
                    received.append(conn.recv(65536))
                except TimeoutError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread, received


def test_md5_login_sends_postgresqls_hash() -> None:
    # The server's side of md5: AuthenticationMD5Password with salt, then Ok and ReadyForQuery.
    salt = b"\x01\x02\x03\x04"
    ask = b"R" + (12).to_bytes(4, "big") + (5).to_bytes(4, "big") + salt
    ok = b"R" + (8).to_bytes(4, "big") + (0).to_bytes(4, "big") + b"Z\x00\x00\x00\x05I"
    port, thread, received = fake_server([ask, ok])
    dsn = pgwire.parse_dsn(f"postgresql://alice:secret@127.0.0.1:{port}/d?sslmode=disable", {})
    pgwire.Connection.open(dsn, 5.0).close()
    thread.join(5)
    import hashlib

    inner = hashlib.md5(b"secretalice").hexdigest()
    expected = b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode() + b"\0"
    assert received[1][5:] == expected


def test_a_password_request_without_a_password_goes_to_asyncpg() -> None:
    ask = b"R" + (8).to_bytes(4, "big") + (3).to_bytes(4, "big")
    port, thread, _ = fake_server([ask])
    dsn = pgwire.parse_dsn(f"postgresql://alice@127.0.0.1:{port}/d?sslmode=disable", {})
    with pytest.raises(pgwire.Unsupported):
        pgwire.Connection.open(dsn, 5.0)
    thread.join(5)


def test_require_refuses_a_server_without_tls() -> None:
    port, thread, _ = fake_server([b"N"])
    dsn = pgwire.parse_dsn(f"postgresql://alice:x@127.0.0.1:{port}/d?sslmode=require", {})
    with pytest.raises(StoreUnavailable):
        pgwire.Connection.open(dsn, 5.0)
    thread.join(5)


def test_bytes_smuggled_after_the_tls_answer_are_refused() -> None:
    # CVE-2021-23222's shape: a man in the middle answers 'S' and appends a plaintext reply that
    # a client would read as if it came over TLS.
    port, thread, _ = fake_server([b"SR\x00\x00\x00\x08\x00\x00\x00\x00"])
    dsn = pgwire.parse_dsn(f"postgresql://alice:x@127.0.0.1:{port}/d", {})
    with pytest.raises(ConnectionResetError):
        pgwire.Connection.open(dsn, 5.0)
    thread.join(5)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        pgwire.encode(datetime(2024, 1, 1) + timedelta(hours=1))
