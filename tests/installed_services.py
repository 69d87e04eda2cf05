"""Run what ``callback-desk install --root ROOT`` installed, each service as its unit says: its
user and groups, the environment its ``EnvironmentFile=`` gives it, its ``ExecStart=``, its
``UMask=``.

The installed files name the installed system's paths (``/etc/callback-desk/...``), and the
users are the root's. So each process runs in a private mount namespace where ``ROOT/etc`` and
``ROOT/var/lib`` stand at ``/etc`` and ``/var/lib``: the service finds its config and secrets
where the unit says, and ``setpriv --init-groups`` takes its groups from the root's
``/etc/group``. Everything else (the program, PostgreSQL on 127.0.0.1, the PBX's ports) is the
machine's. What systemd adds on top (ProtectSystem=, the system-call filter...) is not
reproduced here; tests/unit/test_deploy.py rates those directives.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import shlex
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from callback_desk.install.render import env_values

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NAMESPACE = (
    'mount --bind "$0/etc" /etc && mount --bind "$0/var/lib" /var/lib && umask "$1" && '
    'shift && exec "$@"'
)


@dataclass(frozen=True)
class Unit:
    name: str
    user: str
    group: str
    environment_file: str  # a path of the installed system
    exec_start: tuple[str, ...]
    umask: str

    @classmethod
    def read(cls, root: Path, name: str) -> Unit:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string((root / "etc/systemd/system" / name).read_text())
        service = parser["Service"]
        return cls(
            name=name,
            user=service["User"],
            group=service["Group"],
            environment_file=service.get("EnvironmentFile", "").lstrip("-"),
            exec_start=tuple(shlex.split(service["ExecStart"])),
            umask=service.get("UMask", "0022"),
        )

    def environment(self, root: Path) -> dict[str, str]:
        """What systemd hands the process: its EnvironmentFile= on top of a bare PATH."""
        env = {"PATH": PATH, "LANG": "C.UTF-8"}
        if self.environment_file:
            path = root / self.environment_file.lstrip("/")
            env.update(env_values(path.read_text()))
        return env

    def argv(self, root: Path, command: Sequence[str] | None = None) -> list[str]:
        """The unit's process (or ``command`` with its user and environment) in the root's view."""
        env = [f"{k}={v}" for k, v in self.environment(root).items()]
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _NAMESPACE, str(root), self.umask,
            "setpriv", f"--reuid={self.user}", f"--regid={self.group}", "--init-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
            "env", "-i", *env, *(command or self.exec_start),
        ]  # fmt: skip


def as_root_in(
    root: Path, command: Sequence[str], env: Mapping[str, str] | None = None
) -> list[str]:
    """``command`` as root in the root's view (the doctor, as an admin runs it)."""
    pairs = [f"{k}={v}" for k, v in {"PATH": PATH, "LANG": "C.UTF-8", **(env or {})}.items()]
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _NAMESPACE,
            str(root), "0022", "env", "-i", *pairs, *command]  # fmt: skip


@dataclass
class Running:
    unit: Unit
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.asynccontextmanager
async def running(root: Path, units: Sequence[str], logs: Path) -> AsyncIterator[list[Running]]:
    """Start each unit's service; stop them all (SIGTERM, then SIGKILL) on the way out."""
    started: list[Running] = []
    try:
        for name in units:
            unit = Unit.read(root, name)
            log = logs / f"{name}.log"
            handle = log.open("wb")
            process = await asyncio.create_subprocess_exec(
                *unit.argv(root),
                cwd="/",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
            )
            handle.close()
            started.append(Running(unit, process, log))
        yield started
    finally:
        for service in started:
            if service.process.returncode is None:
                service.process.send_signal(signal.SIGTERM)
        for service in started:
            try:
                await asyncio.wait_for(service.process.wait(), 15)
            except TimeoutError:
                service.process.kill()
                await service.process.wait()


async def run(argv: Sequence[str], stdin: str = "", timeout: float = 180) -> tuple[int, str]:
    """One command to its end: (exit code, stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd="/",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(stdin.encode()), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")
