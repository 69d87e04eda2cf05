"""``callback-desk doctor`` against the real lab PBX: all green, then each broken setup gives
its cross. Broken setups never touch the shared lab: a wrong secret in our own secrets file, a
context name that is not loaded, our own database behind, a copy of manager.conf with a
filter too strict (read through --asterisk-etc)."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agi.config import load as load_agi
from agi.queries import Callbacks
from agi.server import FastAgiServer
from callback_desk.core.config import Secret
from callback_desk.core.store import Store
from callback_desk.doctor.checks import DoctorOptions, run
from fakes.settings import make_settings
from tests.report_support import Sink, self_signed, start_smtp

LAB_ETC = Path(__file__).resolve().parent / "etc" / "pbx"
AGI_PORT = 4573  # the port of the lab dialplan's agi:// URL


@pytest.fixture
async def fastagi(db_dsn: str, store: Store) -> AsyncIterator[None]:
    settings = make_settings(db_dsn)
    server = FastAgiServer(
        Callbacks(store.pool),
        load_agi(settings),
        settings.pbx.timezone,
        "127.0.0.1",
        AGI_PORT,
        # The lab dialplan puts this file's secret in its agi:// URL.
        Secret((LAB_ETC / "callback-desk-agi.secret").read_text().strip()),
    )
    await server.start()
    try:
        yield
    finally:
        await server.close()


@pytest.fixture
async def smtp(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    cert = self_signed(tmp_path)
    server, port = await start_smtp(Sink(), cert=cert)
    try:
        yield port, cert[0]
    finally:
        server.close()
        await server.wait_closed()


def write_setup(
    tmp: Path, dsn: str, secret: str, smtp: tuple[int, Path], **agi: Any
) -> DoctorOptions:
    port, ca = smtp
    config = tmp / "callback-desk.toml"
    agi_lines = "".join(f'{k} = "{v}"\n' for k, v in agi.items())
    config.write_text(
        f'[database]\ndsn = "{dsn}"\n'
        '[ami]\nhost = "127.0.0.1"\nusername = "callbackdesk"\n'
        '[pbx]\ninbound_contexts = ["from-pstn"]\n'
        f"[agi]\n{agi_lines}"
        '[report]\nemail_to = ["frontdesk@example.org"]\n'
        f'[smtp]\nhost = "localhost"\nport = {port}\nsecurity = "starttls"\nca_file = "{ca}"\n'
    )
    config.chmod(0o640)
    env = tmp / "callback-desk.env"
    env.write_text(f"CALLBACK_DESK_AMI_SECRET={secret}\n")
    env.chmod(0o640)
    return DoctorOptions(config=config, env_file=env, asterisk_etc=LAB_ETC, timeout=5)


async def doctor(options: DoctorOptions) -> tuple[int, list[str]]:
    out = io.StringIO()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")}
    code = await run(options, environ, out)
    return code, out.getvalue().splitlines()


def crosses(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✗")]


async def test_doctor_is_all_green_on_the_lab(lab, fastagi, smtp, db_dsn, tmp_path) -> None:
    code, lines = await doctor(write_setup(tmp_path, db_dsn, "labsecret", smtp))
    assert crosses(lines) == [] and code == 0, "\n".join(lines)
    ticked = " ".join(line for line in lines if line.startswith("✓"))
    for what in (
        "config syntax",
        "database",
        "AMI login",
        "AMI write class",
        "AMI events",
        "AMI timestampevents",
        "AMI read classes",
        "AMI event filters",
        "context 'callback-desk-dial'",
        "context 'callback-desk-failed'",
        "*47 is loaded",
        "FastAGI",
        "SMTP",
    ):
        assert what in ticked, f"{what} not ticked:\n" + "\n".join(lines)


async def test_wrong_secret_is_a_cross_on_the_login(lab, fastagi, smtp, db_dsn, tmp_path):
    code, lines = await doctor(write_setup(tmp_path, db_dsn, "not-the-secret", smtp))
    [cross] = crosses(lines)
    assert code == 1
    assert cross.startswith("✗ AMI login") and "refused" in cross and "not-the-secret" not in cross


async def test_missing_context_is_a_cross_naming_it(lab, fastagi, smtp, db_dsn, tmp_path):
    options = write_setup(tmp_path, db_dsn, "labsecret", smtp, originate_context="no-such-ctx")
    code, lines = await doctor(options)
    [cross] = crosses(lines)
    assert code == 1 and "'no-such-ctx' is not loaded" in cross and "fix:" in cross


async def test_schema_behind_is_a_cross_saying_migrate(lab, fastagi, smtp, db_dsn, tmp_path):
    conn = await asyncpg.connect(db_dsn)
    try:
        await conn.execute(
            "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM "
            "schema_migrations)"
        )
    finally:
        await conn.close()
    code, lines = await doctor(write_setup(tmp_path, db_dsn, "labsecret", smtp))
    [cross] = crosses(lines)
    assert code == 1 and cross.startswith("✗ database") and "callback-desk migrate" in cross


async def test_too_strict_event_filter_is_a_cross_naming_the_event(
    lab, fastagi, smtp, db_dsn, tmp_path
) -> None:
    etc = tmp_path / "asterisk"
    etc.mkdir()
    (etc / "manager.conf").write_text((LAB_ETC / "manager.conf").read_text())
    # The product's accounts are in a file of their own (tests/lab/NOTES.md).
    live = (LAB_ETC / "manager_callback_desk_lab.conf").read_text()
    strict = live.replace("eventfilter(action(include),name(DialEnd)) =\n", "", 1)
    assert strict != live
    (etc / "manager_callback_desk_lab.conf").write_text(strict)
    options = write_setup(tmp_path, db_dsn, "labsecret", smtp)
    code, lines = await doctor(
        DoctorOptions(config=options.config, env_file=options.env_file, asterisk_etc=etc, timeout=5)
    )
    [cross] = crosses(lines)
    assert code == 1 and cross.startswith("✗ AMI event filters") and "DialEnd" in cross
