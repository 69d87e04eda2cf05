"""Command-line parsing of the ``callback-desk`` entry point (the classic AGI, ``python -m agi``,
parses its few options by hand, with the same one-line errors: agi/classic.py says why)."""

from __future__ import annotations

import argparse
import textwrap
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


class _Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """``add_parser(name, help=...)``: the one line in the command list is also the first line
    of the subcommand's own ``--help``, as a sentence; a ``description`` follows it as a
    paragraph of its own."""

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        summary = kwargs.get("help")
        if summary:
            details = kwargs.get("description")
            text = summary[0].upper() + summary[1:].rstrip(".") + "."
            if details:
                text += "\n\n" + textwrap.fill(details, 79)
            kwargs["description"] = text
            kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return super().add_parser(name, **kwargs)
