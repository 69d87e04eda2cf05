"""The desk-phone menu as text: Asterisk's side of one AGI session, written down instead of said.

The real session (:func:`agi.session.run_session`, the same code a desk phone reaches with
``*47``) talks AGI to this object as it would to Asterisk over classic AGI's stdin/stdout. The
commands it sends are turned into the words the stock prompts say; key presses come from a
script. A command the menu has no business sending here is answered with 510, as Asterisk would.
"""

from __future__ import annotations

import shlex
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

# What Asterisk's stock English prompts (asterisk-core-sounds-en) say.
WORDS = {
    "vm-youhave": "You have",
    "vm-no": "no",
    "vm-messages": "messages.",
    "telephone-number": "Telephone number",
    "vm-received": "received",
    "with": "with",
    "to-call-this-number": "To call this number,",
    "vm-press": "press",
    "digits/1": "1.",
    "pm-invalid-option": "That option is invalid.",
    "removed": "Removed.",
    "vm-nomore": "No more messages.",
    "vm-goodbye": "Goodbye.",
    "im-sorry": "I'm sorry,",
    "please-try-call-later": "please try your call later.",
    "cannot-complete-as-dialed": "Your call cannot be completed as dialed.",
}


class TextPhone:
    """File-like stdin/stdout for :class:`agi.channel.SafeAGI`; collects what the phone says."""

    def __init__(self, extension: str, keys: Iterable[str], tz: ZoneInfo) -> None:
        self._tz = tz
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
        if verb == "STREAM FILE":
            self.said.append(WORDS.get(words[2], f"[{words[2]}]"))
            return "200 result=0 endpos=8000"
        if verb == "SAY NUMBER":
            self.said.append(words[2])
            return "200 result=0"
        if verb == "SAY DIGITS":
            self.said.append(" ".join(words[2]))
            return "200 result=0"
        if verb == "SAY DATETIME":
            moment = datetime.fromtimestamp(int(words[2]), self._tz)
            self.said.append(moment.strftime("%A at %-I:%M %p."))
            return "200 result=0"
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
