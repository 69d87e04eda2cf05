"""pyst2's ``AGI``, hardened: the one AGI object both modes hand to the handler.

pyst2 0.5.1 is used for what it does well (command methods and result parsing helpers); this
subclass replaces the parts that are unsafe for us:

- ``__init__`` wrote argv and the whole AGI environment (caller number included) to stderr and
  installed a SIGHUP handler (impossible outside the main thread). Here nothing is logged and the
  hang-up flag is a :class:`threading.Event` the entry point sets (SIGHUP in classic mode, the
  ``HANGUP`` line in FastAGI mode).
- ``_quote`` did not escape quotes or newlines, so a value could inject a second command. Here
  ``\\`` and ``"`` are escaped and control characters are refused; every unquoted argument must
  be a plain token.
- ``get_result`` crashed on end of input or a bare ``HANGUP`` line (``int('')``), looped forever
  on a 520 usage block cut short, and raised AGIUnknownError for 511. Here those all become
  :class:`ChannelGone`.
- After a hang-up, only the commands Asterisk allows on a dead channel are still sent (reading
  DIALSTATUS after the desk hung up mid-call is how the attempt gets its outcome).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import IO, Any

from asterisk.agi import AGI, AGIInvalidCommand, AGIUnknownError, AGIUsageError, re_code, re_kv

from agi.exceptions import ChannelGone, UnsafeAgiArgument

# Commands res_agi runs on a dead channel (its "dead" flag); everything else gets 511.
_DEAD_OK = frozenset({"GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "NOOP"})
_TOKEN = re.compile(r"[A-Za-z0-9_/.*#+:-]*", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_ENV_LINES = 200


class SafeAGI(AGI):  # type: ignore[misc]
    def __init__(
        self,
        stdin: IO[str],
        stdout: IO[str],
        hangup: threading.Event | None = None,
        before_reply: Callable[[str], None] | None = None,
    ) -> None:
        # Deliberately not calling AGI.__init__ (see the module docstring).
        # before_reply(command) runs before each reply is awaited: FastAGI sets the read
        # time limit there (a Dial lasts the call; every other reply comes at once).
        self._before_reply = before_reply or (lambda _command: None)
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = None
        self._got_sighup = False
        self.hangup_event = hangup or threading.Event()
        self.env: dict[str, str] = {}
        self._get_agi_env()

    def _get_agi_env(self) -> None:
        for _ in range(_MAX_ENV_LINES):
            line = self.stdin.readline()
            if line == "":
                raise ChannelGone("end of input before the AGI environment ended")
            line = line.strip()
            if line == "":
                return
            if line == "HANGUP":
                self.hangup_event.set()
                continue
            key, sep, value = line.partition(":")
            if sep and key.strip().startswith("agi_"):
                self.env[key.strip()] = value.strip()
        raise ChannelGone("the AGI environment did not end")

    @property
    def hung_up(self) -> bool:
        return self.hangup_event.is_set()

    def _quote(self, string: Any) -> str:
        text = str(string)
        if _CONTROL.search(text):
            raise UnsafeAgiArgument("control characters in an AGI argument")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def execute(self, command: str, *args: Any) -> dict[str, tuple[str, str]]:
        if self.hung_up and command not in _DEAD_OK:
            raise ChannelGone(f"the channel hung up (not sending {command})")
        self.send_command(command, *args)
        self._before_reply(command)
        return self.get_result()

    def send_command(self, command: str, *args: Any) -> None:
        parts = [command]
        for arg in args:
            text = str(arg)
            quoted = len(text) >= 2 and text[0] == '"' and text[-1] == '"'
            if _CONTROL.search(text) or (not quoted and not _TOKEN.fullmatch(text)):
                raise UnsafeAgiArgument(f"unsafe argument for {command}")
            parts.append(text)
        line = " ".join(p for p in parts if p != "").strip() + "\n"
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
        line = self._line()
        while line == "HANGUP":
            # FastAGI announces a hang-up with a bare line; the pending command's reply follows.
            self.hangup_event.set()
            line = self._line()
        match = re_code.search(line)
        code = int(match.group(1)) if match and match.group(1) else 0
        response = match.group(2) if match else ""
        if code == 200:
            result: dict[str, tuple[str, str]] = {"result": ("", "")}
            for key, value, data in re_kv.findall(response):
                result[key] = (value, data)
            value, data = result["result"]
            if value == "-1" or data == "hangup":
                raise ChannelGone(f"result {value} ({data})")
            return result
        if code == 511:
            self.hangup_event.set()
            raise ChannelGone("511 command not permitted on a dead channel")
        if code == 510:
            raise AGIInvalidCommand(response)
        if code == 520:
            for _ in range(50):
                if self._line().startswith("520"):
                    break
            raise AGIUsageError(response)
        raise AGIUnknownError(code, "unexpected AGI reply")
