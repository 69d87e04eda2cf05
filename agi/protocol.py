"""The AGI protocol as text, with no I/O: what both modes send and how they read the answers.

Classic AGI (pyst2 over stdin/stdout, :mod:`agi.channel`) and FastAGI (the asyncio connection,
:mod:`agi.fastagi`) parse the same lines, so the rules that keep a hostile value or a hostile
reply harmless are written once, here:

- **Commands.** A quoted argument escapes ``\\`` and ``"`` (res_agi's parse_args reads them
  back); a control character is refused, so no value can end the line and start a second
  command; every unquoted argument must be a plain token.
- **Replies.** ``200 result=N [(data)] [key=value ...]``; ``510``; ``511`` (dead channel);
  ``520-...`` a usage block up to ``520 End of proper usage.``, or a single ``520 ...`` line; a
  bare ``HANGUP`` line is FastAGI's notice that the channel hung up, before the pending reply.
  ``result=-1`` or ``(hangup)`` means the channel is gone.
- **The environment.** ``agi_key: value`` lines up to a blank line, bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from agi.exceptions import AgiReplyError, ChannelGone, UnsafeAgiArgument
from callback_desk.core.typeshim import NamedTuple

# Commands res_agi runs on a dead channel (its "dead" flag); everything else gets 511.
DEAD_OK = frozenset({"GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "NOOP"})
# The environment Asterisk sends is ~20 lines (plus AGI() arguments); far more is not Asterisk.
MAX_ENV_LINES = 200
# A reply line or an environment longer than this is not Asterisk either.
MAX_LINE = 64 * 1024
MAX_ENV = 16 * 1024
# Lines of a 520 usage block before giving up on its end.
MAX_USAGE_LINES = 50
# Every key a desk may press.
KEYS = "0123456789*#"
HANGUP_LINE = "HANGUP"

_TOKEN = re.compile(r"[A-Za-z0-9_/.*#+:-]*", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CODE = re.compile(r"(\d{3})([ -]?)(.*)", re.ASCII | re.DOTALL)
_PAIR = re.compile(r"(\w+)=(\S*)(?:\s*\((.*?)\))?", re.ASCII)


class Result(NamedTuple):
    """A ``200`` reply: ``result`` and the text in parentheses after it."""

    result: str
    data: str


# -- commands --------------------------------------------------------------------------------


def quote(value: object) -> str:
    """A value as one quoted AGI argument."""
    text = str(value)
    if _CONTROL.search(text):
        raise UnsafeAgiArgument("control characters in an AGI argument")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command(name: str, *args: object) -> str:
    """The line to send (newline included). Each argument is already quoted or a plain token;
    anything else is refused, so no argument can split the line."""
    parts = [name]
    for arg in args:
        text = str(arg)
        quoted = len(text) >= 2 and text[0] == '"' and text[-1] == '"'
        if _CONTROL.search(text) or (not quoted and not _TOKEN.fullmatch(text)):
            raise UnsafeAgiArgument(f"unsafe argument for {name}")
        if text:
            parts.append(text)
    return " ".join(parts) + "\n"


# The menu's prompts are a few fixed lines: built once each (bounded: sound names come from the
# config, numbers are small counts).
@lru_cache(maxsize=512)
def stream_file(filename: str, escape: str = KEYS) -> str:
    return command("STREAM FILE", filename, quote(escape), 0)


@lru_cache(maxsize=512)
def say_number(number: int, escape: str = KEYS) -> str:
    return command("SAY NUMBER", quote(number), quote(escape))


def say_digits(digits: str, escape: str = KEYS) -> str:
    return command("SAY DIGITS", quote(digits), quote(escape))


def say_datetime(seconds: int, escape: str, fmt: str, zone: str) -> str:
    return command("SAY DATETIME", seconds, quote(escape), quote(fmt) if fmt else "", zone)


@lru_cache(maxsize=16)
def wait_for_digit(timeout_ms: int) -> str:
    return command("WAIT FOR DIGIT", timeout_ms)


def set_variable(name: str, value: str) -> str:
    return command("SET VARIABLE", quote(name), quote(value))


def get_variable(name: str) -> str:
    return command("GET VARIABLE", quote(name))


def exec_app(application: str, options: str) -> str:
    return command("EXEC", application, quote(options))


ANSWER = "ANSWER\n"


# -- replies ---------------------------------------------------------------------------------


def parse_result(line: str) -> Result:
    """One reply line (without its newline) as a :class:`Result` (see :func:`_parse`)."""
    # The prompts' replies are a few distinct short lines ("200 result=0 endpos=8000"): each is
    # parsed once. Only short lines without data: a hostile peer cannot fill the cache, and no
    # variable's value stays in it. Results are frozen; errors are raised anew every time.
    if len(line) <= 40 and "(" not in line:
        return _parse_short(line)
    return _parse(line)


@lru_cache(maxsize=256)
def _parse_short(line: str) -> Result:
    return _parse(line)


def _parse(line: str) -> Result:
    """One reply line (without its newline) as a :class:`Result`.

    Raises :class:`ChannelGone` for 511, ``result=-1`` and ``(hangup)``; :class:`AgiReplyError`
    for 510, a single-line 520 and anything that is not an AGI reply. A ``520-`` line starts a
    usage block: :class:`ReplyReader` reads it to its end.
    """
    match = _CODE.fullmatch(line)
    if match is None:
        raise AgiReplyError(0, "unexpected AGI reply")
    code = int(match.group(1))
    rest = match.group(3)
    if code == 200 and match.group(2) == " ":
        pairs = {key: (value, data or "") for key, value, data in _PAIR.findall(rest)}
        value, data = pairs.get("result", ("", ""))
        if value == "-1" or data == "hangup":
            raise ChannelGone(f"result {value} ({data})")
        return Result(value, data)
    if code == 511:
        raise ChannelGone("511 command not permitted on a dead channel")
    if code == 510:
        raise AgiReplyError(510, "invalid or unknown command")
    if code == 520:
        raise AgiReplyError(520, "invalid command syntax")
    raise AgiReplyError(code, "unexpected AGI reply")


class ReplyReader:
    """Reads one reply a line at a time, whoever does the reading (a pipe, a socket).

    :meth:`feed` returns the :class:`Result` once the reply is whole and None while it is not:
    after a bare ``HANGUP`` line (``on_hangup`` is called; the pending reply follows) and inside
    a ``520-`` usage block (up to its ``520 ...`` last line, which raises the 520).
    """

    __slots__ = ("_on_hangup", "_usage")

    def __init__(self, on_hangup: Callable[[], None]) -> None:
        self._on_hangup = on_hangup
        self._usage: int | None = None

    def feed(self, line: str) -> Result | None:
        if self._usage is not None:
            self._usage += 1
            if line.startswith("520 ") or self._usage > MAX_USAGE_LINES:
                self._usage = None
                raise AgiReplyError(520, "invalid command syntax")
            return None
        if line == HANGUP_LINE:
            self._on_hangup()
            return None
        if line.startswith("520-"):
            self._usage = 0
            return None
        if line.startswith("511"):
            self._on_hangup()
        return parse_result(line)


def check_alive(verb: str, hung_up: bool) -> None:
    """After a hang-up only the commands res_agi runs on a dead channel are sent (reading
    DIALSTATUS after the desk hung up mid-call is how the attempt gets its outcome)."""
    if hung_up and verb not in DEAD_OK:
        raise ChannelGone(f"the channel hung up (not sending {verb})")


def key(result: Result) -> str:
    """The key a STREAM FILE, SAY or WAIT FOR DIGIT returned ('' for none), as pyst2 reads it."""
    if result.result == "0":
        return ""
    try:
        return chr(int(result.result))
    except (ValueError, OverflowError):
        raise AgiReplyError(200, f"result {result.result[:20]!r} is not a key") from None


def app_result(result: Result) -> str:
    """EXEC's result; -2 means Asterisk has no such application, as pyst2 reads it."""
    if result.result == "-2":
        raise AgiReplyError(200, "Asterisk has no such application")
    return result.result


def variable(result: Result) -> str:
    """GET VARIABLE's value ('' when unset), as pyst2 reads it."""
    return result.data


# -- the environment -------------------------------------------------------------------------


def env_pair(line: str) -> tuple[str, str] | None:
    """``agi_key: value`` as a pair; None for a line that is not an AGI variable."""
    name, sep, value = line.partition(":")
    name = name.strip()
    if sep and name.startswith("agi_"):
        return name, value.strip()
    return None


def read_env(readline: Callable[[], str], on_hangup: Callable[[], None]) -> dict[str, str]:
    """The environment block read line by line from a classic AGI's stdin; ChannelGone when the
    input ends first or the block does not end. A ``HANGUP`` line calls ``on_hangup``."""
    env: dict[str, str] = {}
    for _ in range(MAX_ENV_LINES):
        line = readline()
        if line == "":
            raise ChannelGone("end of input before the AGI environment ended")
        line = line.strip()
        if line == "":
            return env
        if line == HANGUP_LINE:
            on_hangup()
            continue
        pair = env_pair(line)
        if pair is not None:
            env[pair[0]] = pair[1]
    raise ChannelGone("the AGI environment did not end")


def parse_env(lines: Iterable[str]) -> dict[str, str]:
    """The ``agi_*`` variables of an environment block (the lines before the blank one)."""
    env: dict[str, str] = {}
    for line in lines:
        pair = env_pair(line)
        if pair is not None:
            env[pair[0]] = pair[1]
    return env


class HangupFlag:
    """Set when the channel hangs up (SIGHUP, or a ``HANGUP`` line): a flag, not a
    :class:`threading.Event`, since nothing waits on it, and the classic AGI loads no threading
    before its first prompt (agi/classic.py)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set
