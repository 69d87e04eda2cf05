"""Logging set-up (callback_desk/core/logs.py): syslog for the classic AGI under Asterisk; the
classic AGI's loggers, logging imported at the first line (callback_desk/core/lazylog.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
import syslog
from collections.abc import Iterator

import pytest

from callback_desk.core import lazylog, logs


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    lazylog._pending.clear()


def test_syslog_lines_carry_their_priority_and_action(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(syslog, "syslog", lambda priority, text: sent.append((priority, text)))
    logs.configure(0, syslog_tag="callback-desk-agi")
    log = logging.getLogger("agi.test")
    log.info("Menu for extension %s", "100", extra={"action": "agi_menu"})
    log.warning("slow")
    log.error("down")
    log.debug("not at verbosity 0")
    assert sent == [
        (syslog.LOG_INFO, "INFO Menu for extension 100 action=agi_menu"),
        (syslog.LOG_WARNING, "WARNING slow"),
        (syslog.LOG_ERR, "ERROR down"),
    ]


def test_syslog_costs_no_logging_handlers_and_never_a_traceback() -> None:
    # The classic AGI logs to syslog on every *47: logging.handlers (and the pickle it loads)
    # was more of its start-up than its own code; without /dev/log it printed a traceback per
    # line. Whatever this machine has at /dev/log, neither may happen.
    probe = (
        "from callback_desk.core import logs; logs.configure(0, syslog_tag='cbd-test'); "
        "import logging; logging.getLogger('x').warning('probe line')"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "syslog" in imported
    assert not imported & {"logging.handlers", "pickle"}
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr


def test_a_lazy_logger_writes_the_same_records_as_its_logging_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    log = lazylog.get("agi.test_lazylog")
    log.info("Menu for extension %s", "100", extra={"action": "agi_menu"})
    log.debug("not at INFO")
    (record,) = caplog.records
    assert (record.name, record.getMessage(), record.action) == (  # type: ignore[attr-defined]
        "agi.test_lazylog",
        "Menu for extension 100",
        "agi_menu",
    )
    assert record.pathname != lazylog.__file__  # the caller's line, not the wrapper's


def test_a_deferred_configuration_applies_at_the_first_line(restored: None) -> None:
    lazylog.configure_later(0, syslog_tag=None)
    assert lazylog._pending
    lazylog.get("agi.test_lazylog").warning("first line")
    assert not lazylog._pending
    assert logging.getLogger().level == logging.INFO  # logs.configure ran


def test_nothing_logged_loads_no_logging() -> None:
    probe = (
        "from callback_desk.core import lazylog; lazylog.configure_later(0); "
        "log = lazylog.get('x'); import sys; print('logging' in sys.modules); "
        "log.error('probe line'); print('logging' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
    assert "ERROR x: probe line" in done.stderr  # logs.configure's format, on stderr
