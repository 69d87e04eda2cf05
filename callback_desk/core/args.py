"""Command-line parsing of the ``callback-desk`` entry point (the classic AGI, ``python -m agi``,
parses its few options by hand, with the same one-line errors: agi/classic.py says why)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Collection

from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: a user's mistake is one line on stderr and exit 2,
    like a bad setting (argparse's default prints the whole usage first). A subcommand's
    ``--help`` opens with one line saying what it does: its ``help`` (see :class:`_Subcommands`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Subcommands)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter per option (to check its metavar), each of which imports
        # shutil for the terminal's width: with the bz2, lzma and zlib modules it loads, ~3 ms
        # of every command's start. The same width (HelpFormatter's default: two columns less
        # than the terminal's), read without it. typeshed's formatter protocol names only prog;
        # argparse's formatters all take width.
        formatter: Callable[..., argparse.HelpFormatter] = self.formatter_class
        return formatter(prog=self.prog, width=_columns() - 2)


def _columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def make_only(subcommands: Any, named: Collection[str]) -> None:
    """Make only the subcommands whose name is in ``named`` (the command line's words); list
    the others by their name and help line, which is all argparse reads of a subcommand that is
    not chosen (``--help``'s list, an invalid choice's error), and one that is chosen is named.
    Making every subcommand's parser and options was ~15 ms of every command's start (a
    formatter per option; ``python -X importtime``, cProfile of ``callback-desk report``)."""
    assert isinstance(subcommands, _Subcommands)
    subcommands.named = frozenset(named)


class _Unmade:
    """What :meth:`_Subcommands.add_parser` returns for a subcommand left unmade
    (:func:`make_only`): its options are not made either."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_argument_group(self, *args: Any, **kwargs: Any) -> _Unmade:
        return self

    def set_defaults(self, **kwargs: Any) -> None:
        pass


class _Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """``add_parser(name, help=...)``: the one line in the command list is also the first line
    of the subcommand's own ``--help``, as a sentence; a ``description`` follows it as a
    paragraph of its own."""

    # None: make every subcommand; else see make_only.
    named: frozenset[str] | None = None

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self.named is not None and name not in self.named:
            aliases = kwargs.get("aliases", ())
            if "help" in kwargs:
                self._choices_actions.append(
                    self._ChoicesPseudoAction(name, aliases, kwargs["help"])
                )
            unmade = _Unmade()
            for word in (name, *aliases):
                self._name_parser_map[word] = unmade
            return unmade
        summary = kwargs.get("help")
        if summary:
            details = kwargs.get("description")
            text = summary[0].upper() + summary[1:].rstrip(".") + "."
            if details:
                text += "\n\n" + textwrap.fill(details, 79)
            kwargs["description"] = text
            kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return super().add_parser(name, **kwargs)
