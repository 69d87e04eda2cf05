"""The desk-phone menu as text: Asterisk's side of one AGI session, written down instead of said.

The real session (:func:`agi.session.run_session`, the same code a desk phone reaches with
``*47``) talks AGI to this object as it would to Asterisk over classic AGI's stdin/stdout. The
commands it sends are turned into the words the stock prompts say (:mod:`.speech`: their
transcripts); key presses come from a script. A command the menu has no business sending here is
answered with 510, as Asterisk would.
"""

from __future__ import annotations

import shlex
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from callback_desk.demo.speech import said


class TextPhone:
    """File-like stdin/stdout for :class:`agi.channel.SafeAGI`; collects what the phone says."""

    def __init__(self, extension: str, keys: Iterable[str], now: datetime) -> None:
        self._now = now  # Asterisk's clock: SAY DATETIME's "today" is relative to it
        self._keys = deque(keys)
        self._out = ""
        self._replies: deque[str] = deque(
            [
                "agi_request: callback-desk-demo\n",
                "agi_channel: PJSIP/" + extension + "-00000001\n",
                "agi_callerid: " + extension + "\n",
                "agi_uniqueid: 1.1\n",
                "agi_arg_1: menu\n",
                "agi_arg_2: " + extension + "\n",
                "\n",
            ]
        )
        self.said: list[str] = []  # one entry per prompt, key press or number
        self.unexpected: list[str] = []

    # -- what SafeAGI calls ------------------------------------------------------------------
    def readline(self) -> str:
        return self._replies.popleft() if self._replies else ""

    def write(self, text: str) -> int:
        self._out += text
        while "\n" in self._out:
            line, self._out = self._out.split("\n", 1)
            self._replies.append(self._command(line.strip()) + "\n")
        return len(text)

    def flush(self) -> None:
        pass

    # -- Asterisk's side -----------------------------------------------------------------------
    def _command(self, line: str) -> str:
        words = shlex.split(line)
        verb = " ".join(words[:2]).upper()
        if words[:1] == ["ANSWER"]:
            return "200 result=0"
        if verb in ("STREAM FILE", "SAY NUMBER", "SAY DIGITS", "SAY DATETIME"):
            self.said.append(said(verb, words[2:], self._now))
            return "200 result=0 endpos=8000" if verb == "STREAM FILE" else "200 result=0"
        if verb == "WAIT FOR":
            key = self._keys.popleft() if self._keys else "*"
            self.said.append(f"\n[presses {key}]\n")
            return f"200 result={ord(key)}"
        if verb in ("SET VARIABLE", "GET VARIABLE", "VERBOSE"):
            return "200 result=1" if verb == "SET VARIABLE" else "200 result=0"
        self.unexpected.append(line[:80])
        return "510 Invalid or unknown command"

    def transcript(self) -> str:
        text = " ".join(self.said).replace(" \n", "\n").replace("\n ", "\n")
        return text.strip() + "\n"
