"""``callback-desk listen`` as a real process, and a look into its spool (listener tests)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from ami_listener.spool import FILENAME


def spooled(state_dir: Path) -> list[str]:
    """Linkedids waiting in the spool file, read as an admin would (sqlite3, read-only)."""
    path = state_dir / FILENAME
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT json_extract(record, '$[0]') FROM decided")]
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        db.close()


class ListenProcess:
    """``callback-desk listen`` as systemd runs it, configured through the environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {
            **os.environ,
            "CALLBACK_DESK_CONFIG": "/dev/null",
            "CALLBACK_DESK_DATABASE_CONNECT_TIMEOUT": "2",
            "CALLBACK_DESK_AMI_RECONNECT_MAX": "1",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> ListenProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callback_desk.cli", "listen", env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # Read stderr as it comes: a full pipe would block the listener's logging.
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr += line.decode(errors="replace")

    def logged(self, text: str) -> bool:
        return text in self.stderr

    async def finish(self, sig: int | None = None, timeout: float = 20) -> tuple[int, str]:
        """Signal the process (or not), wait for its end: (exit status, stderr)."""
        assert self.proc is not None and self._reader is not None
        if sig is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(timeout):
            await self.proc.wait()
            await self._reader
        assert self.proc.returncode is not None
        return self.proc.returncode, self.stderr

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader
