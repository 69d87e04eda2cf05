"""A shell on a pseudo-terminal, as a person has one: programs that read the controlling
terminal (getpass) prompt there, and Ctrl-C / Ctrl-D typed into it reach them as from a keyboard.
"""

from __future__ import annotations

import os
import pty
import signal
import threading
import time


class Terminal:
    """A shell on a pseudo-terminal (getpass reads the controlling terminal, as for a person)."""

    def __init__(self, script: str, env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: a shell on the terminal
            try:
                os.execve("/bin/bash", ["bash", "-c", script], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # EIO: the shell and its children closed the terminal
                return
            if not data:
                return
            self.output += data

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def expect(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert time.monotonic() < deadline, f"{needle!r} never came:\n{self.text()}"
            time.sleep(0.05)

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._reader.join(5)
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError(f"the shell did not finish:\n{self.text()}")
            time.sleep(0.05)
