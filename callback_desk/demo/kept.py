"""What ``callback-desk demo --keep`` leaves running: one process, stopped with one ``kill``.

It serves the simulated PBX (so the kept inbox's "Call from my desk phone" reaches a phone
system that answers) on a listening socket the demo bound and handed over (its port is in the
kept settings before this process starts: no race). On SIGTERM or SIGINT it stops the PBX,
then the demo's embedded PostgreSQL if there is one, and removes the demo's directory: the
demo prints ``kill PID`` as the way to undo everything it kept.

    python -m callback_desk.demo.kept --config FILE --fd N [--postgres DIR --install DIR [--user U]]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from callback_desk.core.config import Settings
from callback_desk.core.exceptions import CallbackDeskError
from callback_desk.demo.embedded import Embedded
from callback_desk.demo.pbx import SimulatedPbx

logger = logging.getLogger(__name__)


async def serve(settings: Settings, sock: socket.socket) -> None:
    """Serve ``sock`` as the simulated PBX with the AMI account of ``settings`` until told."""
    pbx = SimulatedPbx(settings.ami.username, settings.ami.require_secret().reveal())
    await pbx.start(sock)
    logger.info("Simulated PBX on 127.0.0.1:%d", pbx.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await pbx.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callback_desk.demo.kept")
    parser.add_argument("--config", type=Path, required=True, help="the kept demo's settings")
    parser.add_argument("--fd", type=int, required=True, help="a listening TCP socket")
    parser.add_argument("--postgres", type=Path, help="the embedded PostgreSQL's directory")
    parser.add_argument("--install", type=Path, help="its programs (pginstall)")
    parser.add_argument("--user", help="the account it runs as")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        settings = Settings.load(args.config, environ={})
        asyncio.run(serve(settings, socket.socket(fileno=args.fd)))
    except CallbackDeskError as exc:
        logger.error("The kept demo stopped: %s", exc)
    finally:
        if args.postgres is not None and args.install is not None:
            try:
                Embedded(args.postgres, args.install, args.user).stop()
            except CallbackDeskError as exc:
                logger.error("%s", exc)
        shutil.rmtree(args.config.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
