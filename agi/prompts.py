"""What the desk phone hears: Asterisk's stock prompts (asterisk-core-sounds-en), by menu step.

Every default is a file of the stock English set (checked against the lab's package and its
transcripts, ``core-sounds-en.txt``, by tests/unit/test_agi_words.py), chosen for what it *says*:

    count      There are currently 4 ... callers waiting to speak with a representative.
    count_one  you have one Call waiting.
    none       There are currently no ... callers waiting to speak with a representative.
    number     Telephone number. two one two five five five zero one zero six.
    received   received Friday at nine fifty two A.M.
    times      For. second. Time.                       (only when they called more than once)
    options    press 1 to call this number. Press 6 to play the next message.

The stock set has no words for "handled" or "never call back", and none that say "press 2":
its only "next" is voicemail's "Press 6 to play the next message", so 6 moves on as 2 does
(VoiceMailMain's own key). Its "Press 7 to delete this message" is not used for 7, never call
back: heard as "dismiss", it would keep a caller off every list for good. Keys 3 and 7 are on
the printed card (docs/calling-back.md, "Keys"), or in the practice's own recording of ``options``.
``queue-thereare`` says "You are currently caller number", ``vm-nomore`` "No more messages":
neither is used.

Every step can be replaced by the practice's own recordings with
``[agi.sounds] <step> = ["custom/..."]``. ``{n}`` is said as a number ("four"), ``{nth}`` as an
ordinal ("second").
"""

from __future__ import annotations

from types import MappingProxyType

DEFAULTS = MappingProxyType(
    {
        "count": ("conf-thereare", "{n}", "queue-quantity2"),
        "count_one": ("vm-youhave", "{n}", "call-waiting"),
        "none": ("conf-thereare", "vm-no", "queue-quantity2"),
        "number": ("telephone-number",),
        # Before the digits of a number from another country (its international form).
        "plus": ("letters/plus",),
        "received": ("vm-received",),
        "times": ("vm-for", "{nth}", "time"),
        "options": ("vm-tocallnum", "vm-next"),
        "invalid": ("pm-invalid-option",),
        "marked": ("removed",),
        "goodbye": ("vm-goodbye",),
        "sorry": ("im-sorry", "please-try-call-later"),
        "refused": ("cannot-complete-as-dialed",),
    }
)

# SAY DATETIME formats (Asterisk's say.c, English): Q is "today"/"yesterday", A the weekday,
# B d the month and ordinal day; 'digits/at' is a file said between date and time; I M p is
# "nine fifty two A.M.".
WHEN_RECENT = "Q 'digits/at' IMp"
WHEN_THIS_WEEK = "A 'digits/at' IMp"
WHEN_OLDER = "Bd 'digits/at' IMp"


def ordinal(n: int) -> list[str]:
    """The stock files that say ``n`` as an ordinal, as Asterisk's English enumeration does
    (say.c): "digits/h-2" (second), "digits/20" "digits/h-1" (twenty first). Beyond 99 the
    number is said as a cardinal ("digits/..." via SAY NUMBER): ``[]`` tells the caller so."""
    if 1 <= n < 20:
        return [f"digits/h-{n}"]
    if 20 <= n < 100:
        tens, units = divmod(n, 10)
        return [f"digits/h-{n}"] if units == 0 else [f"digits/{tens * 10}", f"digits/h-{units}"]
    return []
