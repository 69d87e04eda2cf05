"""Database trouble reaches the user in words, from one place (core.store.connection_error):
which database, which server, what to check; one line, exit 1, never a class name or a trace.

A wrong password needs a server that asks for one: a fake PostgreSQL on a real socket answers
the startup with the ErrorResponse a real server sends (SQLSTATE 28P01), byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from callback_desk.cli import main
from callback_desk.core.config import DatabaseSettings, Secret
from callback_desk.core.dberrors import Target
from callback_desk.core.exceptions import StoreError, StoreUnavailable
from callback_desk.core.store import Store


def _error_response(code: str, message: str) -> bytes:
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


@contextlib.asynccontextmanager
async def refusing_server(code: str, message: str) -> AsyncIterator[int]:
    """A PostgreSQL that refuses every startup with ``code``/``message``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = struct.unpack("!I", await reader.readexactly(4))[0]
                payload = await reader.readexactly(length - 4)
                if payload[:4] == struct.pack("!I", 80877103):  # SSLRequest: no TLS here
                    writer.write(b"N")
                    continue
                writer.write(_error_response(code, message))
                await writer.drain()
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _first_use(dsn: str) -> StoreError:
    store = await Store.open(DatabaseSettings(Secret(dsn), connect_timeout=5))
    try:
        with pytest.raises(StoreError) as raised:
            await store.check_schema()
    finally:
        await store.close()
    return raised.value


async def test_a_missing_database_is_named_with_its_server(pg_server_dsn: str) -> None:
    name = f"callback_desk_missing_{uuid.uuid4().hex[:6]}"
    dsn = urlunsplit(urlsplit(pg_server_dsn)._replace(path="/" + name))
    error = await _first_use(dsn)
    target = Target.of(dsn)
    assert isinstance(error, StoreUnavailable)
    assert f"database {name} does not exist on {target}" in str(error)
    assert "InvalidCatalogName" not in str(error) and "SQLSTATE" not in str(error)


async def test_a_wrong_password_says_so_and_where() -> None:
    message = 'password authentication failed for user "jane"'
    async with refusing_server("28P01", message) as port:
        error = await _first_use(f"postgresql://jane:wrong@127.0.0.1:{port}/callback_desk")
    assert str(error).endswith(f"{message} (connecting to 127.0.0.1:{port})")
    assert "wrong" not in str(error)  # the password itself is never shown


async def test_nothing_listening_and_an_unknown_host_say_what_to_check() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    refused = await _first_use(f"postgresql://postgres@127.0.0.1:{port}/x")
    assert f"cannot connect to the database at 127.0.0.1:{port}: Connection refused" in str(refused)
    unknown = await _first_use("postgresql://postgres@no-such-host.invalid/x")
    assert "the database host no-such-host.invalid is unknown" in str(unknown)


def test_the_command_line_prints_one_line_and_exits_1(monkeypatch, capsys, pg_server_dsn):
    name = f"callback_desk_missing_{uuid.uuid4().hex[:6]}"
    dsn = urlunsplit(urlsplit(pg_server_dsn)._replace(path="/" + name))
    monkeypatch.setenv("CALLBACK_DESK_CONFIG", "/dev/null")
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", dsn)
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err == f"callback-desk migrate: database {name} does not exist on " + (
        f"{Target.of(dsn)}\n"
    )
