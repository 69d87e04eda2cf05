"""pyst2's ``AGI``, hardened: the classic AGI's channel (a process on Asterisk's stdin/stdout).

pyst2 0.5.1 is used for what it does well (its command methods: stream_file, say_number, ...);
the protocol underneath is :mod:`agi.protocol`, shared with the FastAGI path. This subclass
replaces the parts of pyst2 that are unsafe for us:

- ``__init__`` wrote argv and the whole AGI environment (caller number included) to stderr and
  installed a SIGHUP handler. Here nothing is logged and the hang-up flag is a
  :class:`agi.protocol.HangupFlag` the entry point sets (SIGHUP, or a ``HANGUP`` line).
- ``_quote`` did not escape quotes or newlines, so a value could inject a second command. Here
  :func:`agi.protocol.quote` and :func:`agi.protocol.command` refuse or escape them.
- ``get_result`` crashed on end of input or a bare ``HANGUP`` line (``int('')``), looped forever
  on a 520 usage block cut short, and raised AGIUnknownError for 511. Here
  :class:`agi.protocol.ReplyReader` reads every reply shape to one outcome.
- After a hang-up, only the commands Asterisk allows on a dead channel are still sent.
- pyst2 imports :mod:`pprint` at its top, for the debug output that ``__init__`` and
  ``get_result`` wrote (not here). pprint imports :mod:`dataclasses`, and it :mod:`inspect`:
  ~9 ms of the classic AGI's start (``python -X importtime -m agi``). So pyst2 is imported with
  a stand-in that imports the real pprint when pyst2 first uses it (its message for a failed
  ``DATABASE GET``, a command the desk never sends); and so with :mod:`signal` (for the handler
  ``__init__`` installed) and :mod:`six` (:mod:`callback_desk.core.standin`).
"""

from __future__ import annotations

from collections.abc import Callable

from agi import protocol
from agi.exceptions import ChannelGone
from agi.session import BUGS
from callback_desk.core.standin import standing_in
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from typing import IO, Any


def _import_pyst2() -> None:
    """Import ``asterisk.agi`` with a stand-in for ``pprint`` (see the module docstring)."""
    with standing_in("pprint", "signal", "six") as stand_ins:
        if "six" in stand_ins:
            # ``from six import PY3`` is all pyst2 takes from six, and it is True on every
            # Python this runs on; six's import (its table of moved modules) is ~1 ms.
            stand_ins["six"].__dict__["PY3"] = True
        import asterisk.agi  # noqa: F401 - imported for its place in sys.modules


_import_pyst2()
from asterisk.agi import AGI, AGIError  # noqa: E402 - loaded by _import_pyst2, without pprint

# pyst2's own errors (a result it cannot read as a key, EXEC of a missing application) are
# bugs too: the session ends FAILED.
PYST_BUGS = (*BUGS, AGIError)


class SafeAGI(AGI):  # type: ignore[misc]
    def __init__(
        self,
        stdin: IO[str],
        stdout: IO[str],
        hangup: protocol.HangupFlag | threading.Event | None = None,
        before_reply: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        # Deliberately not calling AGI.__init__ (see the module docstring).
        # before_reply(command) runs before each reply is awaited (a read time limit, if any).
        # env: the AGI environment when the entry point read it already (agi.classic).
        self._before_reply = before_reply or (lambda _command: None)
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = None
        self._got_sighup = False
        self.hangup_event = hangup or protocol.HangupFlag()
        self._replies = protocol.ReplyReader(self.hangup_event.set)
        self.env: dict[str, str] = (
            protocol.read_env(self.stdin.readline, self.hangup_event.set) if env is None else env
        )

    @property
    def hung_up(self) -> bool:
        return self.hangup_event.is_set()

    def _quote(self, string: Any) -> str:
        return protocol.quote(string)

    def execute(self, command: str, *args: Any) -> dict[str, tuple[str, str]]:
        protocol.check_alive(command, self.hung_up)
        self.send_command(command, *args)
        self._before_reply(command)
        return self.get_result()

    def send_command(self, command: str, *args: Any) -> None:
        line = protocol.command(command, *args)
        try:
            self.stdout.write(line)
            self.stdout.flush()
        except (BrokenPipeError, ConnectionError, ValueError) as exc:
            raise ChannelGone("Asterisk closed the AGI session") from exc

    def _line(self) -> str:
        try:
            line = self.stdin.readline()
        except (ConnectionError, ValueError) as exc:
            raise ChannelGone("Asterisk closed the AGI session") from exc
        if line == "":
            raise ChannelGone("end of input from Asterisk")
        return line.strip()

    def get_result(self, stdin: Any = None) -> dict[str, tuple[str, str]]:
        """pyst2's shape of a result: ``{"result": (value, data)}``."""
        while True:
            result = self._replies.feed(self._line())
            if result is not None:
                return {"result": (result.result, result.data)}


class PystChannel:
    """:class:`agi.handlers.AgiLike` over a :class:`SafeAGI`: pyst2's blocking methods behind
    the handler's awaits. Nothing here suspends, so the classic AGI steps the handler without
    an event loop (:func:`callback_desk.core.pgwire.drive`)."""

    def __init__(self, agi: SafeAGI) -> None:
        self.agi = agi
        self.env = agi.env

    async def answer(self) -> None:
        self.agi.answer()

    async def stream_file(self, filename: str, escape_digits: str) -> str:
        return str(self.agi.stream_file(filename, escape_digits))

    async def wait_for_digit(self, timeout: int) -> str:
        return str(self.agi.wait_for_digit(timeout))

    async def say_number(self, number: int, escape_digits: str) -> str:
        return str(self.agi.say_number(number, escape_digits))

    async def say_digits(self, digits: str, escape_digits: str) -> str:
        return str(self.agi.say_digits(digits, escape_digits))

    async def say_datetime(self, seconds: int, escape_digits: str, format: str, zone: str) -> str:
        return str(self.agi.say_datetime(seconds, escape_digits, format, zone))

    async def set_variable(self, name: str, value: str) -> None:
        self.agi.set_variable(name, value)

    async def get_variable(self, name: str) -> str:
        return str(self.agi.get_variable(name))

    async def appexec(self, application: str, options: str) -> str:
        return str(self.agi.appexec(application, options))
