"""Work that mostly waits, in a thread, while a short command's main thread imports.

A command started per call or per morning (the classic AGI, the report) spends its first
tens of milliseconds importing, and then waits for something else: PostgreSQL's login, the
number rules of phonenumbers. Started in a thread first, that work overlaps the imports.

Each time the waiting thread is woken (PostgreSQL answers a round trip), it needs the GIL back
from the importing main thread, which lets go of it only every ``sys.getswitchinterval()``
(5 ms): a login of a few round trips took ~10 ms longer than it does alone (agi/classic.py,
``python -X importtime``). So the interval is short while the work runs, and put back when it
ends.
"""

from __future__ import annotations

# _thread, not threading, for a daemon: the classic AGI starts its login this way before its
# first prompt, and threading's import is ~3 ms of that wait (python -X importtime -m agi).
import _thread
import sys
from collections.abc import Callable

from callback_desk.core.typeshim import Generic, TypeVar

T = TypeVar("T")

# How soon the main thread lets the waiting one have the GIL back, while it runs.
SWITCH_INTERVAL = 0.0002


class Overlapped(Generic[T]):
    """``work()`` in a thread started at once; :meth:`result` waits for it and returns what
    it returned, or raises what it raised. ``daemon``: the process may end without waiting
    for it (work that is only worth its result)."""

    def __init__(self, work: Callable[[], T], *, name: str, daemon: bool) -> None:
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        self._interval = sys.getswitchinterval()
        # Held until the work ends: result() waits on it (a daemon has no Thread to join).
        self._done = _thread.allocate_lock()
        self._done.acquire()
        sys.setswitchinterval(SWITCH_INTERVAL)
        if daemon:
            _thread.start_new_thread(self._run, ())
        else:
            # threading's own, so that the interpreter waits for it at exit
            import threading

            threading.Thread(target=self._run, name=name, daemon=False).start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # raised again by result(), in the thread that asks
            self._error = exc
        finally:
            sys.setswitchinterval(self._interval)
            self._done.release()

    def done(self) -> bool:
        """True once the work has ended (returned or raised)."""
        return not self._done.locked()

    def wait(self) -> None:
        """Until the work has ended; what it raised is not raised here."""
        with self._done:
            pass

    def result(self) -> T:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set: the work returned
