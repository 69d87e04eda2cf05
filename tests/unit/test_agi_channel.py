"""SafeAGI (agi/channel.py) on its own: quoting, the environment, and every reply shape."""

from __future__ import annotations

import io
import threading

import pytest
from asterisk.agi import AGIInvalidCommand, AGIUnknownError, AGIUsageError
from hypothesis import given
from hypothesis import strategies as st

from agi.channel import SafeAGI
from agi.exceptions import ChannelGone, UnsafeAgiArgument
from fakes.agi_peer import parse_args

ENV = "agi_request: callback-desk\nagi_arg_1: menu\nagi_arg_2: 100\n\n"


def channel(replies: str = "", env: str = ENV) -> tuple[SafeAGI, io.StringIO]:
    out = io.StringIO()
    return SafeAGI(io.StringIO(env + replies), out, threading.Event()), out


def test_the_environment_is_read_up_to_the_blank_line() -> None:
    agi, out = channel(env="agi_arg_1: dial\nnot_agi: x\nagi_arg_2: 7\n\n")
    assert agi.env == {"agi_arg_1": "dial", "agi_arg_2": "7"}
    assert out.getvalue() == ""  # pyst2 would have echoed the environment to stderr


@pytest.mark.parametrize("env", ["", "agi_arg_1: menu\n", "agi_x: y\n" * 500])
def test_an_unfinished_or_endless_environment_is_a_gone_channel(env: str) -> None:
    with pytest.raises(ChannelGone):
        channel(env=env)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=80))
def test_quoted_values_reach_asterisk_exactly_as_given(value: str) -> None:
    agi, out = channel("200 result=1\n")
    agi.set_variable("CALLERID(name)", value)
    line = out.getvalue()
    assert line.count("\n") == 1
    assert parse_args(line.removeprefix("SET VARIABLE ").rstrip("\n")) == ["CALLERID(name)", value]


@pytest.mark.parametrize(
    "value",
    ['x"\nEXEC Dial PJSIP/19005550199', "a\rb", "nul\x00", "tab\there", "\x7f"],
)
def test_a_value_that_would_start_a_second_command_is_refused(value: str) -> None:
    agi, out = channel("200 result=1\n")
    with pytest.raises(UnsafeAgiArgument):
        agi.set_variable("X", value)
    with pytest.raises(UnsafeAgiArgument):
        agi.stream_file(value)
    assert out.getvalue() == ""  # nothing was sent


@pytest.mark.parametrize("arg", ["a b", "x;y", "${EXTEN}", "1\n", '"open'])
def test_an_unquoted_argument_must_be_a_plain_token(arg: str) -> None:
    agi, out = channel("200 result=0\n")
    with pytest.raises(UnsafeAgiArgument):
        agi.execute("WAIT FOR DIGIT", arg)
    assert out.getvalue() == ""


def test_hangup_line_before_a_reply_marks_the_channel_dead() -> None:
    agi, _ = channel("HANGUP\n200 result=0\n")
    agi.answer()
    assert agi.hung_up
    with pytest.raises(ChannelGone):
        agi.stream_file("vm-goodbye")  # not sent: a dead channel would answer 511


def test_after_a_hang_up_only_dead_channel_commands_are_sent() -> None:
    agi, out = channel("200 result=1 (ANSWER)\n")
    agi.hangup_event.set()
    assert agi.get_variable("DIALSTATUS") == "ANSWER"
    assert out.getvalue() == 'GET VARIABLE "DIALSTATUS"\n'


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("", ChannelGone),  # end of input
        ("HANGUP\n", ChannelGone),  # a bare HANGUP, then end of input (pyst2: int(''))
        ("200 result=-1\n", ChannelGone),
        ("511 Command Not Permitted on a dead channel\n", ChannelGone),
        ("510 Invalid or unknown command\n", AGIInvalidCommand),
        ("520-Invalid command syntax.\nUsage: x\n520 End of proper usage.\n", AGIUsageError),
        ("520-cut short\n", ChannelGone),  # pyst2 looped forever here
        ("999 what\n", AGIUnknownError),
        ("garbage\n", AGIUnknownError),
    ],
)
def test_every_reply_shape_maps_to_one_outcome(reply: str, error: type[Exception]) -> None:
    agi, _ = channel(reply)
    with pytest.raises(error):
        agi.answer()


def test_511_also_sets_the_hang_up_flag() -> None:
    agi, _ = channel("511 Command Not Permitted\n")
    with pytest.raises(ChannelGone):
        agi.answer()
    assert agi.hung_up
