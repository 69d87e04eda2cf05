"""deploy/: every unit, the cron file and the README's classic AGI script run the same program
with the same config and the same secrets file; the cron schedule is the timers' schedule; and
every command they run exists."""

from __future__ import annotations

import argparse
import configparser
import re
import shlex
from pathlib import Path

import pytest

from callback_desk.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROGRAM = "/opt/callback-desk/.venv/bin/callback-desk"
CONFIG = "/etc/callback-desk/callback-desk.toml"
SECRETS = "/etc/callback-desk/callback-desk.env"
UNITS = sorted(DEPLOY.glob("*.service"))
# systemd weekday names -> cron day-of-week numbers
_DAYS = {"Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6, "Sun": 0}


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def commands() -> set[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def cron_jobs() -> list[tuple[str, str, str]]:
    """(schedule, user, command) of deploy/callback-desk.cron."""
    jobs = []
    for line in (DEPLOY / "callback-desk.cron").read_text().splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 6)
        jobs.append((" ".join(fields[:5]), fields[5], fields[6]))
    return jobs


def cron_command(command: str) -> list[str]:
    """The callback-desk argv of a cron job (after it sources the secrets file)."""
    assert f". {SECRETS};" in command, command
    program = command[command.index(PROGRAM) :].split(" 2>&1")[0]
    return shlex.split(program)


def test_there_are_units() -> None:
    assert {u.stem for u in UNITS} >= {
        "callback-desk-listener",
        "callback-desk-agi",
        "callback-desk-report",
        "callback-desk-purge",
    }


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_unit_runs_the_program_with_the_config_and_the_secrets_file(path: Path) -> None:
    service = unit(path)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == PROGRAM
    assert argv[1] in commands()
    assert argv[argv.index("--config") + 1] == CONFIG
    assert service["EnvironmentFile"] == f"-{SECRETS}"
    assert (service["User"], service["Group"]) == ("callback-desk", "callback-desk")


def test_no_file_names_another_secrets_file() -> None:
    texts = [p.read_text() for p in DEPLOY.iterdir()] + [(ROOT / "README.md").read_text()]
    for text in texts:
        for name in re.findall(r"/etc/callback-desk/[\w.-]+\.env\b", text):
            assert name == SECRETS


def test_cron_runs_what_the_timers_run_on_the_same_schedule() -> None:
    timers = {}
    tz = set()
    for path in sorted(DEPLOY.glob("*.timer")):
        on_calendar = unit(path)["Timer"]["OnCalendar"].split()
        service = unit(path.with_suffix(".service"))["Service"]
        days = on_calendar[0] if len(on_calendar) == 4 else "*"
        hour, minute = on_calendar[-2].split(":")[:2]
        tz.add(on_calendar[-1])
        if days != "*":
            first, last = days.split("..")
            days = f"{_DAYS[first]}-{_DAYS[last]}"
        schedule = f"{int(minute)} {int(hour)} * * {days}"
        timers[schedule] = shlex.split(service["ExecStart"])
    jobs = {schedule: cron_command(command) for schedule, _user, command in cron_jobs()}
    assert jobs == timers
    assert {user for _s, user, _c in cron_jobs()} == {"callback-desk"}
    assert "purge" in {argv[1] for argv in jobs.values()}
    cron_tz = re.search(r"^CRON_TZ=(\S+)", (DEPLOY / "callback-desk.cron").read_text(), re.M)
    assert cron_tz is not None and tz == {cron_tz.group(1)}


def test_the_classic_agi_script_loads_the_same_files() -> None:
    readme = (ROOT / "README.md").read_text()
    script = readme.split("**Classic AGI instead of FastAGI**")[1].split("```sh\n")[1]
    script = script.split("```")[0]
    assert f". {SECRETS};" in script
    assert f"--config {CONFIG}" in script
    assert "/opt/callback-desk/.venv/bin/python -m agi" in script
