"""Hostile or broken AMI input never crashes the parser or the tracker, and never leaks state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ami_listener import events as ev
from ami_listener.tracker import CallTracker, TrackerConfig
from callback_desk.core.amiframe import parse_frame
from callback_desk.core.exceptions import MalformedEvent

NAMES = st.sampled_from([*ev.SUBSCRIBED, "VarSet", "Nonsense", ""])
KEYS = st.sampled_from(
    [
        "uniqueid",
        "linkedid",
        "destuniqueid",
        "destlinkedid",
        "context",
        "exten",
        "calleridnum",
        "calleridname",
        "dialstatus",
        "bridgeuniqueid",
        "bridgetechnology",
        "variable",
        "value",
        "application",
        "eventname",
        "timestamp",
        "uptime",
        "mailbox",
        "channelstatedesc",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            "1.1",
            "1.2",
            "from-pstn",
            "ANSWER",
            "CANCEL",
            "VM_MESSAGEFILE",
            "VoiceMail",
            "LINKEDID_END",
            "Up",
            "",
            "1700000000.5",
        ]
    ),
    st.text(max_size=40),
)
FRAMES = st.builds(
    lambda name, headers: {"event": name, **headers},
    NAMES,
    st.dictionaries(KEYS, VALUES, max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAMES, max_size=40))
def test_any_frame_sequence_is_parsed_or_rejected_cleanly(frames: list[dict[str, str]]) -> None:
    tracker = CallTracker(TrackerConfig(frozenset({"from-pstn"}), "US", settle_seconds=1.0))
    now = 0.0
    for headers in frames:
        try:
            event = ev.parse(headers, 1_700_000_000.0)
        except MalformedEvent:
            continue
        if event is not None:
            now += 0.1
            tracker.feed(event, now)
        tracker.due(now)
    tracker.due(now + 10**6)  # past every settle window and expiry
    assert tracker.open_calls == 0 and tracker.tracked_channels == 0
    assert tracker.tracked_bridges == 0


@given(st.text(max_size=500))
def test_frame_splitting_never_raises(text: str) -> None:
    headers = parse_frame(text)
    assert all(key == key.lower() for key in headers)
