"""A strict fake of Asterisk's side of AGI, over asyncio streams.

It writes the ``agi_*`` environment and a blank line, then answers the commands a Callback Desk
session is allowed to send: ANSWER, STREAM FILE, WAIT FOR DIGIT (from a queue of key presses),
SAY NUMBER/DIGITS/DATETIME, SET/GET VARIABLE (a dict), VERBOSE and EXEC Dial (a scripted
outcome). Anything else is recorded in :attr:`AgiPeer.unexpected`, answered with 510, and fails
the test by itself: :meth:`AgiPeer.run` raises :class:`UnexpectedCommand` when the session ends
(the session is let finish first, so the reply a real Asterisk gives is what the AGI sees).
Arguments are parsed the way res_agi does (quotes, backslash escapes), and an unquoted argument
holding anything but a plain token is unexpected too.

``before`` runs a coroutine just before the first command of a name is answered (another desk
acting mid-session).

Hang-ups: ``hangup_at=N`` hangs the channel up when the N-th command arrives (that command
returns -1, as a hung-up STREAM FILE or WAIT FOR DIGIT does); from then on only dead-channel
commands succeed, the rest get 511. In FastAGI mode a bare ``HANGUP`` line follows, as Asterisk
sends; in classic mode ``on_hangup`` is called (the test sends SIGHUP to the script).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

_DEAD_OK = {"GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "NOOP"}
_COMMANDS = (
    "ANSWER",
    "STREAM FILE",
    "WAIT FOR DIGIT",
    "SAY NUMBER",
    "SAY DIGITS",
    "SAY DATETIME",
    "SET VARIABLE",
    "GET VARIABLE",
    "VERBOSE",
    "EXEC",
)
_TOKEN = re.compile(r"[A-Za-z0-9_/.*#+:-]+")


def parse_args(text: str) -> list[str] | None:
    """res_agi's parse_args: quotes group, backslash escapes; None when quotes are unbalanced."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = in_arg = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = in_arg = True
        elif ch == '"':
            quoted = not quoted
            in_arg = True
        elif ch == " " and not quoted:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(ch)
            in_arg = True
    if quoted or escaped:
        return None
    if in_arg:
        args.append("".join(current))
    return args


class UnexpectedCommand(AssertionError):
    """The AGI sent a command the fake was not scripted for."""


@dataclass
class Command:
    name: str
    args: list[str]
    raw: str


@dataclass
class AgiPeer:
    env: dict[str, str]
    keys: list[str] = field(default_factory=list)
    # sound file -> key the desk presses while it plays (STREAM FILE returns that digit)
    press: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    dial: tuple[str, int | str] = ("ANSWER", 42)
    hangup_during_dial: bool = False
    hangup_at: int | None = None
    fastagi: bool = False
    on_hangup: Callable[[], None] | None = None
    commands: list[Command] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    set_variables: list[tuple[str, str]] = field(default_factory=list)
    execs: list[tuple[str, str]] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    dead: bool = False
    before: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)

    def status(self) -> str | None:
        values = [v for k, v in self.set_variables if k == "CALLBACK_DESK_STATUS"]
        return values[-1] if values else None

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        block = "".join(f"{k}: {v}\n" for k, v in self.env.items()) + "\n"
        writer.write(block.encode())
        await writer.drain()
        try:
            await self._serve(reader, writer)
        finally:
            if self.unexpected:
                raise UnexpectedCommand(f"unscripted AGI commands: {self.unexpected}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            text = line.decode("utf-8").rstrip("\n")
            hook = next((self.before.pop(n) for n in list(self.before) if text.startswith(n)), None)
            if hook is not None:
                await hook()
            replies = self._answer(text)
            try:
                for reply in replies:
                    writer.write(reply.encode() + b"\n")
                await writer.drain()
            except ConnectionError:
                return

    def _hang_up(self) -> list[str]:
        self.dead = True
        if self.on_hangup is not None:
            self.on_hangup()
        return ["HANGUP"] if self.fastagi else []

    def _answer(self, raw: str) -> list[str]:
        name = next((c for c in _COMMANDS if raw == c or raw.startswith(c + " ")), None)
        if name is None:
            self.unexpected.append(raw)
            return ["510 Invalid or unknown command"]
        args = parse_args(raw[len(name) :].strip())
        if args is None:
            self.unexpected.append(raw)
            # res_agi's usage block: "520-", the command's usage, "520 End of proper usage."
            return [
                "520-Invalid command syntax.  Proper usage follows:",
                f"Usage: {name}",
                "520 End of proper usage.",
            ]
        unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', "", raw[len(name) :]).split()
        if any(not _TOKEN.fullmatch(tok) for tok in unquoted):
            self.unexpected.append(raw)
        command = Command(name, args, raw)
        self.commands.append(command)
        if self.dead and name not in _DEAD_OK:
            return ["511 Command Not Permitted on a dead channel or intercept routine"]
        if self.hangup_at is not None and len(self.commands) == self.hangup_at and not self.dead:
            if name not in _DEAD_OK:
                return ["200 result=-1", *self._hang_up()]
            extra = self._hang_up()
            return [*self._reply(command), *extra]
        return self._reply(command)

    def _reply(self, c: Command) -> list[str]:
        if c.name == "STREAM FILE":
            self.played.append(c.args[0])
            key = self.press.pop(c.args[0], "")
            if key and len(c.args) > 1 and key in c.args[1]:
                return [f"200 result={ord(key)} endpos=4000"]
            return ["200 result=0 endpos=8000"]
        if c.name in ("SAY NUMBER", "SAY DIGITS", "SAY DATETIME"):
            self.played.append(f"{c.name}:{c.args[0]}")
            return ["200 result=0"]
        if c.name == "WAIT FOR DIGIT":
            if not self.keys:
                return ["200 result=0"]
            return [f"200 result={ord(self.keys.pop(0))}"]
        if c.name == "ANSWER":
            return ["200 result=0"]
        if c.name == "SET VARIABLE":
            if len(c.args) != 2:
                self.unexpected.append(c.raw)
                return ["520 Invalid command syntax."]
            self.set_variables.append((c.args[0], c.args[1]))
            self.variables[c.args[0]] = c.args[1]
            return ["200 result=1"]
        if c.name == "GET VARIABLE":
            value = self.variables.get(c.args[0])
            return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]
        if c.name == "VERBOSE":
            return ["200 result=1"]
        if c.name == "EXEC":
            if len(c.args) != 2 or c.args[0] != "Dial":
                self.unexpected.append(c.raw)
                return ["200 result=-2"]
            self.execs.append((c.args[0], c.args[1]))
            if self.hangup_during_dial:
                self.variables.update(DIALSTATUS="CANCEL")
                return ["200 result=-1", *self._hang_up()]
            status, talk = self.dial
            self.variables["DIALSTATUS"] = status
            if status == "ANSWER":
                self.variables["ANSWEREDTIME"] = str(talk)
            return ["200 result=0"]
        self.unexpected.append(c.raw)
        return ["510 Invalid or unknown command"]


# The FastAGI secret the tests' servers expect (fakes.agi_runner) and Asterisk presents as the
# AGI URL's path.
SECRET = "0123456789abcdef" * 4  # 64 hex digits, as `openssl rand -hex 32` writes


def env(
    mode: str,
    *args: str,
    uniqueid: str = "1700000000.42",
    callerid: str = "100",
    secret: str = SECRET,
) -> dict[str, str]:
    block = {
        "agi_network": "yes",
        "agi_network_script": secret,
        "agi_request": f"agi://127.0.0.1:4573/{secret}",
        "agi_channel": "PJSIP/100-00000001",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.0.0",
        "agi_callerid": callerid,
        "agi_calleridname": "Desk 100",
        "agi_context": "from-internal",
        "agi_extension": "*47",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_threadid": "140000000000000",
        "agi_arg_1": mode,
    }
    for i, arg in enumerate(args, start=2):
        block[f"agi_arg_{i}"] = arg
    return block
