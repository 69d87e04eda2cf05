"""The FastAGI server against attacks on real sockets: peers without the secret, idle sockets,
floods, a silent Asterisk. The database is real; the well-behaved peer is the strict fake."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agi.config import load, read_secret
from agi.queries import Callbacks
from agi.server import FastAgiServer
from callback_desk.core.config import Secret
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.store import Store
from fakes.agi_peer import SECRET, AgiPeer, env
from fakes.agi_runner import run_cli, toml_text
from fakes.poll import until
from fakes.settings import make_settings
from tests.agi_support import add_missed

# The server connects with cbd_desk's rights only (sql/grants.sql); set-up uses the owner's.
pytestmark = pytest.mark.db_role("cbd_desk")

CALLER = "+12125550109"
AGI = {
    "callback_number": "+12125550100",
    "dial_mode": "template",
    "dial_template": "PJSIP/{number}@carrier",
    "digit_timeout": 1.0,
    "retries": 1,
}


async def add_caller(store: Store) -> None:
    await add_missed(store, CALLER, 5)


@asynccontextmanager
async def server(desk: Store, **agi: object) -> AsyncIterator[FastAgiServer]:
    """The FastAGI server on ``desk``'s pool (the test's ``component_store``)."""
    settings = make_settings(pbx={"country": "US"}, agi={**AGI, **agi})
    srv = FastAgiServer(
        Callbacks(desk.pool),
        load(settings),
        settings.pbx.timezone,
        "127.0.0.1",
        0,
        Secret(SECRET),
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.close()


async def desk_session(srv: FastAgiServer, peer: AgiPeer) -> None:
    peer.fastagi = True
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    await peer.run(reader, writer)
    writer.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await reader.read(1) == b""


def actions(caplog: pytest.LogCaptureFixture, action: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "action", None) == action]


@pytest.mark.parametrize("presented", ["", "callback-desk", SECRET[:-1], SECRET + "x", "é" * 40])
async def test_a_peer_without_the_secret_gets_no_command(
    store: Store, component_store: Store, caplog: pytest.LogCaptureFixture, presented: str
) -> None:
    # The attack: a local process poses as Asterisk and asks desk 100's menu, to have the
    # waiting callers' numbers read out. It must get nothing, and be logged (masked).
    await add_caller(store)
    caplog.set_level(logging.INFO)
    async with server(component_store) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        fake = env("menu", "100", secret=presented)
        writer.write(("".join(f"{k}: {v}\n" for k, v in fake.items()) + "\n").encode())
        await writer.drain()
        async with asyncio.timeout(10):
            assert await reader.read() == b""  # not a single command, then closed
        writer.close()
    refused = actions(caplog, "agi_refused_peer")
    assert len(refused) == 1 and "mode menu" in refused[0]
    text = caplog.text
    assert "2125550109" not in text and SECRET not in text
    assert not actions(caplog, "agi_menu")


async def test_the_right_secret_opens_the_menu(store: Store, component_store: Store) -> None:
    await add_caller(store)
    async with server(component_store) as srv:
        peer = AgiPeer(env("menu", "100"), keys=["*"])
        async with asyncio.timeout(20):
            await desk_session(srv, peer)
    assert "SAY DIGITS:2125550109" in peer.played and peer.status() == "OK"


async def test_idle_sockets_do_not_keep_a_desk_waiting(
    store: Store, component_store: Store
) -> None:
    # The attack: with max_sessions = 2, two idle sockets kept a real desk from any prompt.
    await add_caller(store)
    async with server(component_store, max_sessions=2, env_timeout=30.0) as srv:
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(4)]
        peer = AgiPeer(env("menu", "100"), keys=["*"])
        async with asyncio.timeout(20):  # before the idle ones' env_timeout
            await desk_session(srv, peer)
        assert peer.played[:3] == ["vm-youhave", "SAY NUMBER:1", "call-waiting"]
        for _, w in idle:
            w.close()


async def test_a_flood_of_idle_sockets_is_shed_oldest_first(
    store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await add_caller(store)
    async with server(component_store, max_waiting=4, env_timeout=30.0) as srv:
        flood = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(40)]

        async def shed() -> bool:
            closed = 0
            for r, _ in flood:
                try:
                    closed += await asyncio.wait_for(closed_by_server(r), 0.01)
                except TimeoutError:
                    pass
            return closed >= 36

        await until(shed, timeout=15, what="all but max_waiting idle sockets closed")
        assert actions(caplog, "agi_shed")
        # Asterisk, arriving after the flood, still gets its menu.
        peer = AgiPeer(env("menu", "100"), keys=["*"])
        async with asyncio.timeout(20):
            await desk_session(srv, peer)
        assert peer.status() == "OK"
        for _, w in flood:
            w.close()


async def test_a_socket_that_sends_no_environment_is_closed(
    component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with server(component_store, env_timeout=0.2) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"agi_network_script: x\n")  # starts, never finishes
        async with asyncio.timeout(10):
            assert await closed_by_server(reader)
        writer.close()
    assert any("no AGI environment" in m for m in actions(caplog, "agi_refused_peer"))


async def test_an_asterisk_that_stops_answering_ends_the_session(
    component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with server(component_store, reply_timeout=1.0) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        block = "".join(f"{k}: {v}\n" for k, v in env("menu", "100").items()) + "\n"
        writer.write(block.encode())
        async with asyncio.timeout(10):
            assert (await reader.readline()).startswith(b"ANSWER")
            # ... and no reply: the server gives up and closes.
            while await reader.read(4096):
                pass
        writer.close()
    assert actions(caplog, "agi_reply_timeout")


async def test_sessions_queue_up_to_max_waiting_then_are_refused(
    component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    block = ("".join(f"{k}: {v}\n" for k, v in env("menu", "100").items()) + "\n").encode()
    async with server(component_store, max_sessions=1, max_waiting=1) as srv:
        conns = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(block)
            await writer.drain()
            conns.append((reader, writer))
        async with asyncio.timeout(10):
            # The first holds the one slot (it was sent ANSWER and does not reply) ...
            assert (await conns[0][0].readline()).startswith(b"ANSWER")
            # ... the second waits for it, the third is refused.
            await until(lambda: bool(actions(caplog, "agi_shed")), what="a refused session")
            assert await closed_by_server(conns[2][0])
        for _, w in conns:
            w.close()


def test_no_secret_no_server(tmp_path: Path) -> None:
    cfg = load(make_settings(agi=AGI))
    with pytest.raises(ConfigError, match="secret_file is not set"):
        FastAgiServer(None, cfg, make_settings().pbx.timezone, "127.0.0.1", 0)  # type: ignore[arg-type]
    secret = tmp_path / "agi-secret"
    secret.write_text("short\n")
    secret.chmod(0o640)
    with pytest.raises(ConfigError, match="32-128"):
        read_secret(load(make_settings(agi={"secret_file": str(secret)})))
    secret.write_text(SECRET + "\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by every local user"):
        read_secret(load(make_settings(agi={"secret_file": str(secret)})))
    secret.chmod(0o640)
    assert read_secret(load(make_settings(agi={"secret_file": str(secret)}))).reveal() == SECRET


async def test_agi_serve_without_a_secret_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(toml_text({"database": {"dsn": "postgresql://unused/"}, "agi": AGI}))
    rc, _, err = await run_cli(config, "agi", "serve", timeout=30)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "secret_file is not set" in lines[0]


async def test_peer_user_refuses_a_process_of_another_user_even_with_the_secret(
    store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # The attack: a local process that learnt the secret (a log, a CDR) but is not Asterisk.
    # This test's process plays it: it is not "nobody".
    caplog.set_level(logging.INFO)
    await add_caller(store)
    async with server(component_store, peer_user="nobody") as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        block = "".join(f"{k}: {v}\n" for k, v in env("menu", "100").items()) + "\n"
        writer.write(block.encode())
        async with asyncio.timeout(10):
            assert await reader.read() == b""
        writer.close()
    assert any("not run by nobody" in m for m in actions(caplog, "agi_refused_peer"))
    # The same process is let in when it is the configured user.
    me = pwd.getpwuid(os.getuid()).pw_name
    async with server(component_store, peer_user=me) as srv:
        peer = AgiPeer(env("menu", "100"), keys=["*"])
        async with asyncio.timeout(20):
            await desk_session(srv, peer)
    assert peer.status() == "OK" and "SAY DIGITS:2125550109" in peer.played


def test_peer_user_must_exist() -> None:
    cfg = load(make_settings(agi={**AGI, "peer_user": "no-such-user-here"}))
    with pytest.raises(ConfigError, match="not a user on this host"):
        FastAgiServer(None, cfg, make_settings().pbx.timezone, "127.0.0.1", 0, Secret(SECRET))  # type: ignore[arg-type]


async def test_the_whole_office_in_the_menu_at_once(store: Store, component_store: Store) -> None:
    # 40 desks have heard their first caller and are deciding (no key yet): with a thread per
    # session (the old server's 16) the 41st desk queued behind them for as long as they took.
    await add_caller(store)
    async with server(component_store) as srv:
        release = asyncio.Event()
        deciding = 0

        async def decide() -> None:
            nonlocal deciding
            deciding += 1
            await release.wait()

        desks = [
            AgiPeer(env("menu", "100"), keys=["*"], before={"WAIT FOR DIGIT": decide})
            for _ in range(40)
        ]
        sessions = [asyncio.create_task(desk_session(srv, d)) for d in desks]
        await until(lambda: deciding == 40, timeout=30, what="40 menus waiting for a key")
        late = AgiPeer(env("menu", "100"), keys=["*"])
        async with asyncio.timeout(20):
            await desk_session(srv, late)
        assert late.played[:3] == ["vm-youhave", "SAY NUMBER:1", "call-waiting"]
        release.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*sessions)
    assert all(d.status() == "OK" for d in desks)


async def test_an_environment_too_long_is_refused(
    component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with server(component_store, env_timeout=30.0) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"agi_x: " + b"y" * 20_000 + b"\n")  # no blank line, ever
        await writer.drain()
        async with asyncio.timeout(10):
            assert await reader.read() == b""
        writer.close()
    assert any("too long" in m for m in actions(caplog, "agi_refused_peer"))
