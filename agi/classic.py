"""Classic AGI over stdin/stdout: ``python -m agi [--config PATH] [--syslog] [-v]``.

stdout *is* the AGI protocol: before anything runs, ``sys.stdout`` is pointed at stderr so that
no stray write can corrupt it, and pyst2 gets the original stream. Logging goes to stderr (or
syslog with ``--syslog``). Asterisk's environment is not the service's, hence ``--config``.

This is the desk side's own small entry point (it imports the core and ``agi`` only, not the
whole command line), because Asterisk starts a process for every classic AGI session.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from agi.config import load
from agi.runtime import open_callbacks
from agi.session import run_session
from callback_desk.core import logs
from callback_desk.core.args import Parser
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError


async def run_classic(settings: Settings) -> int:
    """One AGI session on this process's stdin/stdout. Always 0: the status variable carries
    the outcome, and the dialplan branches on it and on ${AGISTATUS}."""
    protocol_out = sys.stdout
    sys.stdout = sys.stderr
    cfg = load(settings)
    tz = settings.pbx.timezone
    hangup = threading.Event()
    loop = asyncio.get_running_loop()
    # Asterisk sends SIGHUP on hang-up unless AGISIGHUP=no; either way the flag only stops
    # commands a dead channel cannot run.
    loop.add_signal_handler(signal.SIGHUP, hangup.set)
    try:
        async with open_callbacks(settings, cfg, max_size=1) as callbacks:
            await run_session(
                sys.stdin, protocol_out, hangup, callbacks, cfg, tz, lambda: datetime.now(tz)
            )
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m agi", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    # Asterisk appends the AGI() arguments (menu,100 ...); they are read from the AGI
    # environment (agi_arg_N), so they are accepted here and not used.
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose, syslog_tag="callback-desk-agi" if args.syslog else None)
    try:
        settings = Settings.load(args.config)
        return asyncio.run(run_classic(settings))
    except ConfigError as exc:
        sys.stderr.write(f"callback-desk agi: {exc}\n")
        return 2
