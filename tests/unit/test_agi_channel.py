"""The two AGI channels on their own: pyst2's (classic, agi/channel.py) and the asyncio one
(FastAGI, agi/fastagi.py) over a real socket. Both read the protocol through agi/protocol.py, so
every rule is checked on both: quoting, the environment, the dead channel, every reply shape."""

from __future__ import annotations

import asyncio
import gc
import io
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi import protocol
from agi.channel import PystChannel, SafeAGI
from agi.exceptions import AgiReplyError, ChannelGone, UnsafeAgiArgument
from agi.fastagi import FastAgiChannel
from agi.handlers import AgiLike
from fakes.agi_peer import parse_args

ENV = "agi_request: callback-desk\nagi_arg_1: menu\nagi_arg_2: 100\n\n"


@dataclass
class Opened:
    agi: AgiLike
    hung_up: Callable[[], bool]
    mark_hung_up: Callable[[], None]
    sent: Callable[[], Awaitable[str]]


def pyst(replies: str = "", env: str = ENV) -> tuple[SafeAGI, io.StringIO]:
    out = io.StringIO()
    return SafeAGI(io.StringIO(env + replies), out, threading.Event()), out


async def classic(replies: str) -> Opened:
    agi, out = pyst(replies)

    async def sent() -> str:
        return out.getvalue()

    return Opened(PystChannel(agi), lambda: agi.hung_up, agi.hangup_event.set, sent)


async def fastagi(replies: str) -> Opened:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    _, channel = await loop.connect_accepted_socket(
        lambda: FastAgiChannel(lambda _c, _e: ready.set(), lambda _c: None, 5.0, 5.0), ours
    )
    assert isinstance(channel, FastAgiChannel)
    await loop.sock_sendall(theirs, (ENV + replies).encode())
    await ready.wait()

    async def sent() -> str:
        await asyncio.sleep(0.05)
        try:
            return theirs.recv(65536).decode()
        except BlockingIOError:
            return ""

    # As a HANGUP notice marks it (the reply reader's callback).
    opened = Opened(channel, lambda: channel.hung_up, channel._hangup.set, sent)
    _open.append((channel, theirs))
    return opened


_open: list[tuple[FastAgiChannel, socket.socket]] = []


@pytest.fixture(params=["pyst2", "fastagi"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[str], Awaitable[Opened]]]:
    yield classic if request.param == "pyst2" else fastagi
    for channel, theirs in _open:
        channel.close()
        theirs.close()
    _open.clear()


def test_the_environment_is_read_up_to_the_blank_line() -> None:
    agi, out = pyst(env="agi_arg_1: dial\nnot_agi: x\nagi_arg_2: 7\n\n")
    assert agi.env == {"agi_arg_1": "dial", "agi_arg_2": "7"}
    assert out.getvalue() == ""  # pyst2 would have echoed the environment to stderr
    assert protocol.parse_env(["agi_arg_1: dial", "not_agi: x", "agi_arg_2: 7"]) == agi.env


async def test_fastagi_reads_the_same_environment(make: Callable[[str], Awaitable[Opened]]) -> None:
    opened = await make("")
    assert opened.agi.env == {
        "agi_request": "callback-desk",
        "agi_arg_1": "menu",
        "agi_arg_2": "100",
    }


@pytest.mark.parametrize("env", ["", "agi_arg_1: menu\n", "agi_x: y\n" * 500])
def test_an_unfinished_or_endless_environment_is_a_gone_channel(env: str) -> None:
    with pytest.raises(ChannelGone):
        pyst(env=env)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=80))
def test_quoted_values_reach_asterisk_exactly_as_given(value: str) -> None:
    agi, out = pyst("200 result=1\n")
    agi.set_variable("CALLERID(name)", value)
    line = out.getvalue()
    assert line.count("\n") == 1
    assert parse_args(line.removeprefix("SET VARIABLE ").rstrip("\n")) == ["CALLERID(name)", value]
    assert protocol.set_variable("CALLERID(name)", value) == line  # FastAGI sends the same line


@pytest.mark.parametrize(
    "value",
    ['x"\nEXEC Dial PJSIP/19005550199', "a\rb", "nul\x00", "tab\there", "\x7f"],
)
async def test_a_value_that_would_start_a_second_command_is_refused(
    make: Callable[[str], Awaitable[Opened]], value: str
) -> None:
    opened = await make("200 result=1\n")
    with pytest.raises(UnsafeAgiArgument):
        await opened.agi.set_variable("X", value)
    with pytest.raises(UnsafeAgiArgument):
        await opened.agi.stream_file(value, "")
    assert await opened.sent() == ""  # nothing was sent


@pytest.mark.parametrize("arg", ["a b", "x;y", "${EXTEN}", "1\n", '"open'])
def test_an_unquoted_argument_must_be_a_plain_token(arg: str) -> None:
    agi, out = pyst("200 result=0\n")
    with pytest.raises(UnsafeAgiArgument):
        agi.execute("WAIT FOR DIGIT", arg)
    assert out.getvalue() == ""
    with pytest.raises(UnsafeAgiArgument):
        protocol.command("WAIT FOR DIGIT", arg)


async def test_hangup_line_before_a_reply_marks_the_channel_dead(
    make: Callable[[str], Awaitable[Opened]],
) -> None:
    opened = await make("HANGUP\n200 result=0\n")
    try:
        await opened.agi.answer()
    except ChannelGone:
        pass  # FastAGI read the notice before it sent anything: then it sends nothing at all
    assert opened.hung_up()
    with pytest.raises(ChannelGone):
        await opened.agi.stream_file("vm-goodbye", "")  # not sent: a dead channel answers 511
    assert await opened.sent() in ("ANSWER\n", "")


async def test_after_a_hang_up_only_dead_channel_commands_are_sent(
    make: Callable[[str], Awaitable[Opened]],
) -> None:
    opened = await make("200 result=1 (ANSWER)\n")
    opened.mark_hung_up()
    assert await opened.agi.get_variable("DIALSTATUS") == "ANSWER"
    assert await opened.sent() == 'GET VARIABLE "DIALSTATUS"\n'


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("", ChannelGone, None),  # end of input
        ("HANGUP\n", ChannelGone, None),  # a bare HANGUP, then end of input (pyst2: int(''))
        ("200 result=-1\n", ChannelGone, None),
        ("200 result=1 (hangup)\n", ChannelGone, None),
        ("511 Command Not Permitted on a dead channel\n", ChannelGone, None),
        ("510 Invalid or unknown command\n", AgiReplyError, 510),
        ("520-Invalid command syntax.\nUsage: x\n520 End of proper usage.\n", AgiReplyError, 520),
        ("520 Invalid command syntax.  Proper usage not available.\n", AgiReplyError, 520),
        ("520-cut short\n", ChannelGone, None),  # pyst2 looped forever here
        ("999 what\n", AgiReplyError, 999),
        ("garbage\n", AgiReplyError, 0),
        ("200 result=x\n", None, None),  # not a key: each channel's own error, below
    ],
)
async def test_every_reply_shape_maps_to_one_outcome(
    make: Callable[[str], Awaitable[Opened]],
    reply: str,
    error: type[Exception] | None,
    code: int | None,
) -> None:
    opened = await make(reply)
    if reply in ("", "HANGUP\n", "520-cut short\n") and isinstance(opened.agi, FastAgiChannel):
        # A socket's end of input is its closing: Asterisk hanging up on the FastAGI session.
        _open[-1][1].shutdown(socket.SHUT_WR)
    if error is None:
        with pytest.raises(Exception) as caught:
            await opened.agi.wait_for_digit(1000)
        assert not isinstance(caught.value, ChannelGone)
        return
    with pytest.raises(error) as raised:
        await opened.agi.answer()
    if code is not None:
        assert isinstance(raised.value, AgiReplyError) and raised.value.code == code


async def test_a_usage_block_is_read_to_its_end_and_the_next_reply_is_the_next_commands(
    make: Callable[[str], Awaitable[Opened]],
) -> None:
    opened = await make("520-Invalid.\nUsage: x\ny\n520 End of proper usage.\n200 result=49\n")
    with pytest.raises(AgiReplyError):
        await opened.agi.answer()
    assert await opened.agi.wait_for_digit(1000) == "1"


async def test_511_also_sets_the_hang_up_flag(make: Callable[[str], Awaitable[Opened]]) -> None:
    opened = await make("511 Command Not Permitted\n")
    with pytest.raises(ChannelGone):
        await opened.agi.answer()
    assert opened.hung_up()


async def test_fastagi_a_reply_that_never_comes_ends_the_session() -> None:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    _, channel = await loop.connect_accepted_socket(
        lambda: FastAgiChannel(lambda _c, _e: ready.set(), lambda _c: None, 0.2, 0.2), ours
    )
    assert isinstance(channel, FastAgiChannel)
    theirs.sendall(ENV.encode())
    await ready.wait()
    with pytest.raises(ChannelGone):
        await channel.answer()
    assert channel.closed
    theirs.close()


async def test_fastagi_an_endless_reply_line_ends_the_session() -> None:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    _, channel = await loop.connect_accepted_socket(
        lambda: FastAgiChannel(lambda _c, _e: ready.set(), lambda _c: None, 30.0, 30.0), ours
    )
    assert isinstance(channel, FastAgiChannel)
    await loop.sock_sendall(theirs, ENV.encode())
    await ready.wait()
    answer = asyncio.create_task(channel.answer())
    await asyncio.sleep(0)
    with pytest.raises(ChannelGone):
        await loop.sock_sendall(theirs, b"2" * (protocol.MAX_LINE + 10))
        await answer
    assert channel.closed
    theirs.close()


# pyst2 imports pprint, which imports dataclasses and inspect: agi.channel gives it a stand-in
# (a classic AGI's start-up), which must still work when pyst2 does use it.
PPRINT_ON_FIRST_USE = """
import sys
import agi.channel
import asterisk.agi
assert "pprint" not in sys.modules and "dataclasses" not in sys.modules, "loaded too soon"
assert asterisk.agi.pprint.pformat({"a": 1}) == "{'a': 1}"
assert "pprint" in sys.modules and type(sys.modules["pprint"]).__name__ == "module"
"""


def test_pyst2_loads_pprint_only_when_it_uses_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PPRINT_ON_FIRST_USE], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


async def test_a_fastagi_session_that_hung_up_is_freed_without_the_cyclic_collector() -> None:
    # The hang-up's error stays on the reply's future: a frame holding that future on the
    # error's way out, or the reply reader pointing back at its channel, made each session a
    # cycle (its frames, tasks, transport) that only the collector freed, in pauses of tens of
    # milliseconds with many desks at once (agi/fastagi.py, _resolve).
    gc.disable()
    try:
        ours, theirs = socket.socketpair()
        ready = asyncio.Event()
        transport, channel = await asyncio.get_running_loop().connect_accepted_socket(
            lambda: FastAgiChannel(lambda _c, _e: ready.set(), lambda _c: None, 5.0, 5.0), ours
        )
        assert isinstance(channel, FastAgiChannel)
        theirs.sendall((ENV + "200 result=-1\nHANGUP\n").encode())
        await ready.wait()
        try:
            await channel.stream_file("conf-thereare", protocol.KEYS)
        except ChannelGone:
            pass
        assert channel.hung_up
        freed = weakref.ref(channel)
        transport.close()
        theirs.close()
        del transport, channel
        async with asyncio.timeout(5):
            while freed() is not None:  # the transport lets go once connection_lost has run
                await asyncio.sleep(0)
    finally:
        gc.enable()
