"""Command-line parsing shared by the entry points (the CLI and the classic AGI)."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: a user's mistake is one line on stderr and exit 2,
    like a bad setting (argparse's default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")
