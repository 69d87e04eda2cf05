"""Every subcommand's ``--help`` opens with one line saying what it does: the same line as in
``callback-desk --help``'s list, as a sentence (core.args: one place for every subcommand)."""

from __future__ import annotations

import argparse

import pytest

from callback_desk.cli import build_parser, main


def _subcommands() -> dict[str, str]:
    """Every subcommand and its line in ``callback-desk --help``."""
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {choice.dest: str(choice.help) for choice in sub._choices_actions}


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_subcommands_help_opens_with_what_it_does(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    usage, first, *_rest = out.split("\n\n")
    assert usage.startswith(f"usage: callback-desk {command} ")
    # One line, a sentence: the command list's line, capitalised.
    summary = _subcommands()[command]
    assert "\n" not in first and len(first) <= 100
    assert first == summary[0].upper() + summary[1:] + "."
