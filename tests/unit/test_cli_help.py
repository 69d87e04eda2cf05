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


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_a_command_line_makes_only_the_subcommands_it_names(command: str) -> None:
    # The others are listed by name and help line, the same list as when all are made.
    whole = build_parser()
    named = build_parser(["--config", "x.toml", command, "-v"])
    assert named.format_help() == whole.format_help()
    [sub] = [a for a in named._actions if isinstance(a, argparse._SubParsersAction)]
    [every] = [a for a in whole._actions if isinstance(a, argparse._SubParsersAction)]
    assert sub.choices.keys() == every.choices.keys()
    made = {name for name, p in sub.choices.items() if isinstance(p, argparse.ArgumentParser)}
    assert made == {command}
    assert sub.choices[command].format_help() == every.choices[command].format_help()


def test_a_command_line_naming_no_subcommand_fails_as_before(capsys) -> None:
    for argv in (["reprot"], [], ["--config", "report"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("callback-desk: ")
    with pytest.raises(SystemExit):
        main(["reprot"])
    assert "invalid choice: 'reprot' (choose from 'migrate', 'grant'" in capsys.readouterr().err
