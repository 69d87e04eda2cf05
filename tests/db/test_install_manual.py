"""docs/install.md's appendix ("the same, by hand"), followed in order on a fresh FreePBX layout:
every step runs (``set -eu``: the first that fails, fails the test), and the result is the layout
``callback-desk install`` makes: the same users, groups and members, the same files with the same
owners and modes, the same AMI accounts, a database whose logins are those of the secrets
files, and secrets the doctor passes.

The steps run on this machine's own programs in a private mount namespace where a fresh
server's ``/etc``, ``/opt``, ``/var/lib``, ``/var/log`` and ``/usr/local/bin`` stand in for the
real ones, so nothing of this machine changes. What a test machine cannot do is replaced, each
by a shell function of the same name that says what it stands for (``SHIMS``); nothing else is.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from callback_desk.cli import main
from callback_desk.core import layout
from callback_desk.core.accounts import Accounts
from callback_desk.doctor import manager_conf
from callback_desk.install import database as db
from callback_desk.install import render
from tests.docs_support import ROOT
from tests.install_support import fresh_root, tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates users (in a fresh root)")

PAGE = ROOT / "docs" / "install.md"
# The fresh server's directories that stand in for the machine's own.
BOUND = ("etc", "opt", "var/lib", "var/log", "usr/local/bin")
# What apt install postgresql and a Debian base leave in /etc that the steps' programs read.
FROM_THIS_MACHINE = (
    "etc/alternatives",
    "etc/login.defs",
    "etc/nsswitch.conf",
    "etc/default/useradd",
    "etc/ssl/openssl.cnf",
    "etc/postgresql-common",
    "etc/postgresql",
)
SHIMS = r"""
# apt: the packages are this machine's (python3-venv, postgresql).
apt() { echo "(test) apt $*: installed already"; }
# python3 -m venv: the venv, with the wheel built for this test in it; pip needs no network then.
python3() {
  if [ "$1 $2" = "-m venv" ]; then
    command /usr/bin/python3 -m venv --without-pip "$3"
    $TEST_PIP --python "$3/bin/python" install -q --no-deps "$TEST_WHEEL"
    for site in "$3"/lib/python3*/site-packages; do echo "$TEST_SITE" > "$site/zz_test.pth"; done
    printf '#!/bin/sh\necho "(test) pip $*: installed with the venv"\n' > "$3/bin/pip"
    chmod 0755 "$3/bin/pip"
  else
    command /usr/bin/python3 "$@"
  fi
}
# sudo -u postgres: PGUSER=postgres reaches the test's PostgreSQL as its administrator.
sudo() {
  while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
    case $1 in -u|-g) shift 2 ;; *) shift ;; esac
  done
  "$@"
}
# asterisk -rx '... reload': no PBX runs here (tests/lab/test_install_lab.py reloads a real one).
asterisk() { echo "(test) asterisk $*: no PBX runs here"; }
# systemctl: no systemd here; the units are enabled as files (--root), not started.
systemctl() {
  case $1 in
    enable) shift; [ "$1" = "--now" ] && shift; command systemctl --root=/ enable "$@" ;;
    *) echo "(test) systemctl $*: no systemd here" ;;
  esac
}
"""
NAMESPACE = 'for d in {dirs}; do mount --bind "$0/$d" "/$d"; done; exec "$@"'


def appendix_steps() -> str:
    """The appendix's shell blocks, in order, but the last: the doctor, which checks a running
    PBX and running services (neither is here; the test runs it after, for the secrets)."""
    text = PAGE.read_text(encoding="utf-8").split("## Appendix", 1)[1]
    blocks: list[str] = []
    current: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.strip() == "```sh":
            inside, current = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    assert blocks[-1] == "callback-desk doctor", blocks[-1]
    return "\n".join(blocks[:-1]) + "\n"


def _server(root: Path) -> None:
    """What a Debian server with PostgreSQL installed has besides our fresh layout."""
    for name in FROM_THIS_MACHINE:
        source, target = Path("/") / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for name in BOUND:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name).chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)


@pytest.fixture
def database(pg_server_dsn: str) -> Iterator[str]:
    name = f"cbd_manual_{uuid.uuid4().hex[:8]}"
    yield name
    admin = urlunsplit(urlsplit(pg_server_dsn)._replace(path="/postgres"))

    async def clean() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in [c.login(name) for c in layout.COMPONENTS] + [name]:
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()

    asyncio.run(clean())


def run_steps(
    steps: str, root: Path, pg_server_dsn: str, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]:
    """The steps as one ``set -eu`` script, in the fresh server's view."""
    _server(root)
    wheel = _wheel(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(wheel, work)  # "pip install ./callback_desk-*.whl" in the admin's directory
    dsn = urlsplit(pg_server_dsn)
    query = dict(p.split("=", 1) for p in dsn.query.split("&") if "=" in p)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "PGHOST": dsn.hostname or query.get("host", "/var/run/postgresql"),
        "PGPORT": str(dsn.port or 5432),
        "PGUSER": dsn.username or "postgres",
        "TEST_PIP": f"{sys.executable} -m pip",
        "TEST_WHEEL": str(wheel),
        "TEST_SITE": _site_packages(),
    }
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         NAMESPACE.format(dirs=" ".join(BOUND)), str(root), "sh", "-c",
         "set -eu\n" + SHIMS + steps],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return proc, work, env


def own_database(steps: str, database: str) -> str:
    # Its own database, so as not to touch another on the same PostgreSQL server.
    assert steps.count("DB=callback_desk\n") == 1
    return steps.replace("DB=callback_desk\n", f"DB={database}\n")


def test_the_manual_steps_run_in_order_on_a_fresh_server_and_make_what_install_makes(
    pg_server_dsn: str, database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manual, installed = fresh_root("freepbx"), fresh_root("freepbx")
    try:
        steps = own_database(appendix_steps(), database)
        proc, work, env = run_steps(steps, manual, pg_server_dsn, tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        # The installer on another fresh server of the same kind (files only).
        code = main(["install", "--root", str(installed), "--init", "systemd",
                     "--database", database])  # fmt: skip
        assert code == 0, capsys.readouterr()
        _same_layout(manual, installed)
        _same_accounts(manual)
        asyncio.run(_same_database(pg_server_dsn, manual, database))
        _doctor_passes_the_secrets(manual, work, env)
    finally:
        shutil.rmtree(manual, ignore_errors=True)
        shutil.rmtree(installed, ignore_errors=True)


def test_the_old_order_grant_before_migrate_fails_there(
    pg_server_dsn: str, database: str, tmp_path: Path
) -> None:
    # What the issue found on a fresh server: `grant` first stops a `set -e` script. The test
    # above would fail the same way if the appendix went back to that order.
    steps = own_database(appendix_steps(), database)
    migrate, grant = (
        next(line for line in steps.splitlines() if line.endswith(f"callback-desk {word}"))
        for word in ("migrate", "grant")
    )
    old = steps.replace(migrate, "MIGRATE").replace(grant, migrate).replace("MIGRATE", grant)
    root = fresh_root("freepbx")
    try:
        proc, _work, _env = run_steps(old, root, pg_server_dsn, tmp_path)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("callback-desk grant: ")


def _wheel(tmp_path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("callback_desk-*.whl")
    return wheel


def _site_packages() -> str:
    import site

    return site.getsitepackages()[0]


def _same_layout(manual: Path, installed: Path) -> None:
    mine, theirs = Accounts.read(manual), Accounts.read(installed)
    for user in layout.SERVICE_USERS:
        assert mine.groups_of(user) == theirs.groups_of(user), user
    for group in (layout.CONFIG_GROUP, layout.WEB_KEY_GROUP):
        assert mine.members(group) == theirs.members(group), group

    def owned(root: Path, accounts: Accounts) -> dict[str, tuple[str, str, str]]:
        out = {}
        for where in ("etc/callback-desk", "var/lib/callback-desk", "etc/systemd/system"):
            for path, (mode, uid, gid, _what) in tree(root / where).items():
                if path != "installed.json":
                    out[f"{where}/{path}"] = (
                        mode,
                        accounts.user_name(uid),
                        accounts.group_name(gid),
                    )
        top = (root / "etc/callback-desk").stat()
        out["etc/callback-desk"] = (
            f"{top.st_mode:o}",
            accounts.user_name(top.st_uid),
            accounts.group_name(top.st_gid),
        )
        return out

    assert owned(manual, mine) == owned(installed, theirs)
    for root in (manual, installed):
        assert (root / "usr/local/bin/callback-desk").is_symlink()
        unit = (root / "etc/systemd/system/callback-desk-agi.service").read_text()
        assert "User=cbd-agi" in unit


def _same_accounts(manual: Path) -> None:
    """The AMI accounts the manual steps appended are the sample's, with the secrets files'."""
    conf = manager_conf.load(manual / "etc/asterisk/manager.conf")
    sample = manager_conf.load(ROOT / "manager.conf.sample")
    for name in ("callbackdesk", "callbackdesk-call"):
        assert conf.accounts[name].read == sample.accounts[name].read
        assert conf.accounts[name].filters == sample.accounts[name].filters
    text = (manual / "etc/asterisk/manager_custom.conf").read_text()
    listener = render.env_values((manual / "etc/callback-desk/listener.env").read_text())
    agi = render.env_values((manual / "etc/callback-desk/agi.env").read_text())
    assert f"secret = {listener['CALLBACK_DESK_AMI_SECRET']}" in text
    assert f"secret = {agi['CALLBACK_DESK_AGI_AMI_SECRET']}" in text
    assert "CHANGE-ME" not in text
    dialplan = (manual / "etc/asterisk/extensions_custom.conf").read_text()
    for context in ("[from-internal-custom]", "[callback-desk-dial]", "[callback-desk-failed]"):
        assert dialplan.count(context) == 1, context
    assert "[desk-phones]" not in dialplan


async def _same_database(server: str, manual: Path, database: str) -> None:
    admin = urlunsplit(urlsplit(server)._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        for component in layout.COMPONENTS:
            env = render.env_values((manual / str(component.env_file).lstrip("/")).read_text())
            dsn = urlsplit(env["CALLBACK_DESK_DATABASE_DSN"])
            found = await db.role(conn, str(dsn.username))
            assert found is not None, dsn.username
            assert db.scram_matches(str(dsn.password), found["rolpassword"])
            assert list(found["member_of"]) == [component.db_role]
        owner = await db.database_owner(conn, database)
    finally:
        await conn.close()
    assert owner == database
    conn = await asyncpg.connect(urlunsplit(urlsplit(server)._replace(path=f"/{database}")))
    try:
        owners = {r[0] for r in await conn.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")}  # fmt: skip
        assert owners == {database}
        assert await db.pending_migrations(conn) == []
    finally:
        await conn.close()


def _doctor_passes_the_secrets(manual: Path, work: Path, env: dict[str, str]) -> None:
    """The doctor, run as the admin would at the end: every secret readable by its readers
    only (the PBX and the services are not running here, so those checks fail)."""
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         NAMESPACE.format(dirs=" ".join(BOUND)), str(manual),
         "callback-desk", "doctor", "--timeout", "1"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    secrets = [line for line in proc.stdout.splitlines() if line[2:].startswith("secret ")]
    assert len(secrets) == len(layout.secret_files()), proc.stdout + proc.stderr
    assert all(line.startswith("✓") for line in secrets), "\n".join(secrets)
