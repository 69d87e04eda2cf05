"""Dialplan variable names and values shared with extensions.conf.sample.

Must stay in sync with extensions.conf.sample and docs/calling-back.md.
"""

from __future__ import annotations

# Set by the AGI on its channel before it exits: how the session ended.
STATUS = "CALLBACK_DESK_STATUS"
# The last callback's DIALSTATUS (ANSWER, NOANSWER, BUSY, ...), empty when none was placed.
DIALSTATUS = "CALLBACK_DESK_DIALSTATUS"
# Set by click-to-call's Originate on the desk leg: the extension that asked for the callback.
EXTENSION = "CALLBACK_DESK_EXTENSION"

# STATUS values.
OK = "OK"  # the menu ended normally (the caller pressed *, or the list was done)
REFUSED = "REFUSED"  # unknown id, number not callable, or not this extension's line
HANGUP = "HANGUP"  # the desk phone hung up
FAILED = "FAILED"  # database down or an internal error: the dialplan takes its failure path

# Read by the AGI after Dial() (set by app_dial).
DIAL_RESULT = "DIALSTATUS"
ANSWERED_TIME = "ANSWEREDTIME"
