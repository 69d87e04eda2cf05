"""Drive the real AGI program against :class:`fakes.agi_peer.AgiPeer`.

Classic: ``python -m agi --config FILE`` as a subprocess, the peer on its stdin/stdout (SIGHUP on
hang-up, as Asterisk does). FastAGI: the real server on a real socket, the peer as the client.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

from agi.config import load
from agi.queries import Callbacks
from agi.server import FastAgiServer
from callback_desk.core.config import Secret, Settings
from fakes.agi_peer import SECRET, AgiPeer

REPO = Path(__file__).resolve().parents[1]


def toml_text(sections: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        for key, value in values.items():
            if isinstance(value, dict):
                continue
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            elif isinstance(value, list):
                lines.append(f"{key} = [{', '.join(_q(v) for v in value)}]")
            else:
                lines.append(f"{key} = {_q(value)}")
        for key, table in tables.items():
            lines.append(f"[{name}.{key}]")
            for sub, value in table.items():
                if isinstance(value, list):
                    lines.append(f"{_q(sub)} = [{', '.join(_q(v) for v in value)}]")
                else:
                    lines.append(f"{_q(sub)} = {_q(value)}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # fail early on a helper bug
    return text


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def run_cli(config: Path, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """``python -m callback_desk.cli --config CONFIG ARGS``: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callback_desk.cli",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run_classic(
    config: Path, peer: AgiPeer, timeout: float = 30, python: tuple[str, ...] = ()
) -> tuple[int, str]:
    """``python [PYTHON...] -m agi --config CONFIG menu 100``: exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *python,
        "-m",
        "agi",
        "--config",
        str(config),
        "menu",
        "100",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    peer.fastagi = False
    peer.on_hangup = lambda: proc.send_signal(signal.SIGHUP)
    async with asyncio.timeout(timeout):
        _, err = await asyncio.gather(peer.run(proc.stdout, proc.stdin), proc.stderr.read())
        proc.stdin.close()
        rc = await proc.wait()
    return rc, err.decode("utf-8", "replace")


async def run_fastagi(
    settings: Settings, callbacks: Callbacks, peer: AgiPeer, timeout: float = 30
) -> None:
    server = FastAgiServer(
        callbacks, load(settings), settings.pbx.timezone, "127.0.0.1", 0, Secret(SECRET)
    )
    await server.start()
    peer.fastagi = True
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await peer.run(reader, writer)
            writer.close()
            await writer.wait_closed()
    finally:
        await server.close()
