"""Command-line parsing of the ``callback-desk`` entry point (the classic AGI, ``python -m agi``,
parses its few options by hand, with the same one-line errors: agi/classic.py says why)."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: a user's mistake is one line on stderr and exit 2,
    like a bad setting (argparse's default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")
