"""Classic AGI over stdin/stdout: ``python -m agi [--config PATH] [-v]`` or ``callback-desk agi``.

stdout *is* the AGI protocol: before anything runs, ``sys.stdout`` is pointed at stderr so that
no stray write can corrupt it, and pyst2 gets the original stream. Logging goes to stderr (or
syslog with ``--syslog``). Asterisk's environment is not the service's, hence ``--config``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime

from agi.config import load
from agi.runtime import open_callbacks
from agi.session import run_session
from callback_desk.config import Settings


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


def main(argv: Sequence[str] | None = None) -> int:
    from callback_desk import cli

    args = list(sys.argv[1:] if argv is None else argv)
    return cli.main(["agi", *args])


__all__ = ["main", "run_classic"]

if __name__ == "__main__":
    raise SystemExit(main())
