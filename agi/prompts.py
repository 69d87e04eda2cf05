"""What the desk phone hears: Asterisk's stock prompts (asterisk-core-sounds-en), by menu step.

The stock set has no words for "callers waiting" or "next caller", so the defaults borrow the
voicemail vocabulary ("you have 3 messages"); the key help is "To call this number, press 1"
and the other keys are printed on the card by the phone (docs/calling-back.md). Every entry can be
replaced by the practice's own recordings with ``[agi.sounds] <step> = ["custom/..."]``.
``{n}`` is said as a number.
"""

from __future__ import annotations

from types import MappingProxyType

DEFAULTS = MappingProxyType(
    {
        "count": ("vm-youhave", "{n}", "vm-messages"),
        "none": ("vm-youhave", "vm-no", "vm-messages"),
        "number": ("telephone-number",),
        "received": ("vm-received",),
        "times": ("with", "{n}"),
        "options": ("to-call-this-number", "vm-press", "digits/1"),
        "invalid": ("pm-invalid-option",),
        "marked": ("removed",),
        "no_more": ("vm-nomore",),
        "goodbye": ("vm-goodbye",),
        "sorry": ("im-sorry", "please-try-call-later"),
        "refused": ("cannot-complete-as-dialed",),
    }
)
