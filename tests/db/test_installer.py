"""``callback-desk install`` and ``uninstall`` on fresh server layouts (``--root``): what they
create, with which owner and mode; that a dry run and a second run change nothing; that
uninstall leaves the layout as it found it; that every secret is readable by its readers only
(read as every other service user with ``setpriv``); and the database side against the test
PostgreSQL (``--pg-admin``). Needs root (users, ownership), as the installer does.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from callback_desk import __version__
from callback_desk.cli import main
from callback_desk.core import layout
from callback_desk.core.accounts import Accounts
from callback_desk.core.sqlfiles import migrations
from callback_desk.install import actions as a
from callback_desk.install import database as db
from callback_desk.install import render
from callback_desk.install.execute import Executor, Manifest
from tests.install_support import Kind, fresh_root, read_as, server_root, tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the installer runs as root")

# Files the system's own tools leave beside the ones they change (useradd's backups and lock).
TOOL_LEFTOVERS = re.compile(r"^etc/(passwd|group|shadow|gshadow)-$|^etc/\.pwd\.lock$")
OTHER_USERS = ("nobody",)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def changes(out: str) -> list[str]:
    """The lines of a run's output that create, change, run or remove something."""
    return [
        line
        for line in out.splitlines()
        if re.match(r"^(would )?(create|change|run|remove)\s", line)
    ]


def without_tool_leftovers(snapshot: dict[str, tuple[str, int, int, str]]) -> dict[str, object]:
    return {k: v for k, v in snapshot.items() if not TOOL_LEFTOVERS.match(k)}


@pytest.fixture
def admin_dsn(pg_server_dsn: str) -> str:
    """The test server as its administrator, at its maintenance database."""
    return urlunsplit(urlsplit(pg_server_dsn)._replace(path="/postgres"))


@pytest.fixture
def database(admin_dsn: str) -> Iterator[str]:
    """A database name for one install; whatever it left in the cluster is dropped after."""
    name = f"cbd_inst_{uuid.uuid4().hex[:8]}"
    yield name

    async def clean() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in [name] + [c.login(name) for c in layout.COMPONENTS]:
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()

    asyncio.run(clean())


def install_args(root: Path, *more: str) -> list[str]:
    return ["install", "--root", str(root), "--init", "systemd", *more]


# -- the dry run -----------------------------------------------------------------------------------


def test_dry_run_on_this_machine_without_a_pbx_shows_the_plan_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], admin_dsn: str, database: str
) -> None:
    watched = [Path("/etc"), Path("/usr/local/bin"), Path("/var/lib/callback-desk")]
    if Path("/etc/asterisk/manager.conf").exists():
        pytest.skip("this machine has a PBX")
    before = {str(w): tree(w) for w in watched if w.exists()}
    # (Only what this install would name: other tests create databases meanwhile.)
    roles_before = asyncio.run(_cluster(admin_dsn, database))
    code, out, err = cli(capsys, "install", "--dry-run", "--pg-admin", admin_dsn,
                         "--database", database)  # fmt: skip
    assert code == 0, err
    assert {str(w): tree(w) for w in watched if w.exists()} == before
    assert asyncio.run(_cluster(admin_dsn, database)) == roles_before == ([], [])
    assert "dry run: shows every change and makes none" in out
    assert "no PBX" in out.splitlines()[0]
    # Every kind of change, with owner and mode, and the SQL without a password.
    for expected in (
        "would create    user cbd-agi",
        "would create    /etc/callback-desk/web.secret  root:cbd-web-key 0440",
        "would create    /etc/callback-desk/agi.env  root:cbd-agi 0640",
        f"CREATE ROLE \"{database}_web\" LOGIN PASSWORD '********' IN ROLE cbd_web",
        f"would create    database {database}",
        "skip            the PBX's AMI accounts and dialplan",
    ):
        assert expected in out, expected
    assert not re.search(r"[0-9a-f]{40}", out), "a secret on screen"


async def _cluster(dsn: str, database: str) -> tuple[list[str], list[str]]:
    """The roles and databases named after ``database`` (what an install of it makes)."""
    conn = await asyncpg.connect(dsn)
    try:
        roles = [
            r[0]
            for r in await conn.fetch(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '%' ORDER BY 1", database
            )
        ]
        dbs = [
            r[0]
            for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1 || '%' ORDER BY 1", database
            )
        ]
    finally:
        await conn.close()
    return roles, dbs  # fmt: skip


@pytest.mark.parametrize("kind", ["none", "asterisk", "freepbx"])
def test_dry_run_on_a_fresh_server_changes_nothing(
    capsys: pytest.CaptureFixture[str], kind: Kind
) -> None:
    with server_root(kind) as root:
        before = tree(root)
        code, out, err = cli(capsys, *install_args(root, "--dry-run"))
        assert code == 0, err
        assert tree(root) == before
    assert changes(out) and all(line.startswith("would ") for line in changes(out))
    if kind != "none":
        # The lines it would add to Asterisk's files are shown, secrets masked.
        assert "                | [callbackdesk-call]" in out
        assert "                | secret = ********" in out


# -- install, again, uninstall ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["none", "asterisk", "freepbx"])
def test_install_twice_then_uninstall(
    capsys: pytest.CaptureFixture[str], kind: Kind, admin_dsn: str, database: str
) -> None:
    with server_root(kind) as root:
        fresh = tree(root)
        args = install_args(root, "--pg-admin", admin_dsn, "--database", database)
        code, _first, err = cli(capsys, *args)
        assert code == 0, err
        installed = tree(root)
        _check_layout(root, kind)
        code, second, err = cli(capsys, *args)
        assert code == 0, err
        assert changes(second) == [], changes(second)
        assert "nothing to do: all" in second
        assert tree(root) == installed
        code, out, err = cli(capsys, "uninstall", "--root", str(root), "--pg-admin", admin_dsn,
                             "--database", database)  # fmt: skip
        assert code == 0, err
        assert without_tool_leftovers(tree(root)) == without_tool_leftovers(fresh)
        assert not any(
            ">>> callback-desk" in p.read_text(errors="replace")
            for p in root.rglob("*")
            if p.is_file()
        )
        assert f"keep            database {database}" in out
        code, _out, err = cli(capsys, "uninstall", "--root", str(root))
        assert code == 2 and "nothing to uninstall" in err
    roles, dbs = asyncio.run(_cluster(admin_dsn, database))
    assert dbs == [database] and roles == [database]  # kept: the database and its owner


def _check_layout(root: Path, kind: Kind) -> None:
    accounts = Accounts.read(root)
    for spec in layout.secret_files(pbx_local=kind != "none"):
        st = (root / str(spec.path).lstrip("/")).stat()
        have = (accounts.user_name(st.st_uid), accounts.group_name(st.st_gid), st.st_mode & 0o7777)
        assert have == (spec.owner, spec.group, spec.mode), spec.path
    for component in layout.COMPONENTS:
        assert accounts.groups_of(component.user) >= {component.user, layout.CONFIG_GROUP}
    assert accounts.members(layout.WEB_KEY_GROUP) == {"cbd-web", "cbd-report"}
    units = root / "etc/systemd/system"
    assert "User=cbd-agi" in (units / "callback-desk-agi.service").read_text()
    if kind == "freepbx":
        custom = (root / "etc/asterisk/extensions_custom.conf").read_text()
        assert custom.startswith("; your own dialplan\n") and "[from-internal-custom]" in custom
        assert "[callbackdesk]" in (root / "etc/asterisk/manager_custom.conf").read_text()
    if kind == "asterisk":
        assert (
            (root / "etc/asterisk/extensions.conf")
            .read_text()
            .endswith("#include callback-desk.conf\n; <<< callback-desk\n")
        )
        manager = (root / "etc/asterisk/manager.conf").read_text()
        assert "[general](+)\nenabled = yes\nbindaddr = 127.0.0.1" in manager


def test_the_database_side(
    capsys: pytest.CaptureFixture[str], admin_dsn: str, database: str
) -> None:
    with server_root("asterisk") as root:
        args = install_args(root, "--pg-admin", admin_dsn, "--database", database)
        code, out, err = cli(capsys, *args)
        assert code == 0, err
        assert f"run             migrate {database}  as {database}: 0001_calls" in out
        env = {c.name: render.env_values((root / str(c.env_file).lstrip("/")).read_text())
               for c in layout.COMPONENTS}  # fmt: skip
        facts = asyncio.run(_database_facts(admin_dsn, database))
        # Each login: the password in its own secrets file, member of its component's role.
        for c in layout.COMPONENTS:
            dsn = urlsplit(env[c.name]["CALLBACK_DESK_DATABASE_DSN"])
            assert dsn.username == c.login(database) and dsn.path == f"/{database}"
            assert db.scram_matches(str(dsn.password), facts["passwords"][c.login(database)])
            assert facts["member_of"][c.login(database)] == [c.db_role]
        assert facts["owner"] == database and facts["tables_owner"] == {database}
        assert facts["migrations"] == len(migrations())
        # A lost secrets file: a new password for that login only, the others untouched.
        (root / "etc/callback-desk/agi.env").unlink()
        code, out, err = cli(capsys, *args)
        assert code == 0, err
        assert f"change          role {database}_agi  to match its secrets file" in out
        assert [line.split()[1] for line in changes(out)] == ["/etc/callback-desk/agi.env", "role"]
        after = asyncio.run(_database_facts(admin_dsn, database))
        for c in layout.COMPONENTS:
            same = after["passwords"][c.login(database)] == facts["passwords"][c.login(database)]
            assert same == (c.name != "agi"), c.name
        code, out, err = cli(capsys, "uninstall", "--root", str(root), "--pg-admin", admin_dsn,
                             "--database", database, "--drop-data")  # fmt: skip
        assert code == 0, err
        assert f"remove          database {database}  with 0 call records" in out
    assert asyncio.run(_cluster(admin_dsn, database)) == ([], [])


async def _database_facts(admin_dsn: str, database: str) -> dict[str, Any]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolpassword, ARRAY(SELECT b.rolname FROM pg_auth_members m "
            "JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid) AS member_of "
            "FROM pg_authid r WHERE rolname LIKE $1",
            f"{database}%",
        )
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database
        )
    finally:
        await conn.close()
    conn = await asyncpg.connect(urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{database}")))
    try:
        tables_owner = {
            r[0] for r in await conn.fetch(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }  # fmt: skip
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    return {
        "passwords": {r["rolname"]: r["rolpassword"] for r in rows},
        "member_of": {r["rolname"]: list(r["member_of"]) for r in rows},
        "owner": owner,
        "tables_owner": tables_owner,
        "migrations": applied,
    }


def test_the_upgrade_migrates_keeps_every_secret_and_says_so(
    capsys: pytest.CaptureFixture[str], admin_dsn: str, database: str
) -> None:
    # What an older version left: its database one migration behind...
    asyncio.run(_older_database(admin_dsn, database))
    with server_root("freepbx") as root:
        code, _out, err = cli(capsys, *install_args(root))
        assert code == 0, err
        # ... its version in the manifest and in the markers.
        manifest = root / "etc/callback-desk/installed.json"
        manifest.write_text(manifest.read_text().replace(f'"{__version__}"', '"0.0.9"'))
        for name in ("manager_custom.conf", "extensions_custom.conf"):
            path = root / "etc/asterisk" / name
            path.write_text(path.read_text().replace(f"callback-desk {__version__}:",
                                                     "callback-desk 0.0.9:"))  # fmt: skip
        secrets = {p.name: p.read_text() for p in (root / "etc/callback-desk").iterdir()}
        code, out, err = cli(
            capsys, *install_args(root, "--pg-admin", admin_dsn, "--database", database)
        )
        assert code == 0, err
        assert f"upgrade: 0.0.9 -> {__version__}" in out
        assert f"run             migrate {database}  as {database}: {migrations()[-1].name}" in out
        assert f"unchanged       database {database}" in out
        assert "change          /etc/asterisk/manager_custom.conf  replaces our lines" in out
        after = {p.name: p.read_text() for p in (root / "etc/callback-desk").iterdir()}
        del after["installed.json"], secrets["installed.json"]
        assert after == secrets  # every secret kept
        assert f'"version": "{__version__}"' in manifest.read_text()


async def _older_database(admin_dsn: str, database: str) -> None:
    """The database an older install created, its schema one migration behind."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await db.create_role(conn, database, None, None)
        await db.create_database(conn, database, database)
    finally:
        await conn.close()
    conn = await asyncpg.connect(urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{database}")))
    try:
        await conn.execute(f'SET ROLE "{database}"')
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in migrations()[:-1]:
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
    finally:
        await conn.close()


# -- who may read what -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["asterisk", "freepbx"])
def test_every_secret_is_read_by_its_readers_and_refused_to_every_other_user(
    capsys: pytest.CaptureFixture[str], kind: Kind
) -> None:
    with server_root(kind) as root:
        code, _out, err = cli(capsys, *install_args(root))
        assert code == 0, err
        users = (*layout.SERVICE_USERS, layout.ASTERISK, *OTHER_USERS)
        wrong = []
        for spec in layout.secret_files():
            path = root / str(spec.path).lstrip("/")
            for user in users:
                read = read_as(root, user, path)
                allowed = user in spec.readers
                if allowed != (read.returncode == 0):
                    wrong.append(f"{user} {'cannot' if allowed else 'can'} read {spec.path}")
                if not allowed:
                    assert "Permission denied" in read.stderr, (user, spec.path, read.stderr)
        assert wrong == []
        # The attack the issue found: the inbox's key was readable through the asterisk group.
        assert read_as(root, "asterisk", root / "etc/callback-desk/web.secret").returncode != 0
        assert read_as(root, "asterisk", root / "etc/callback-desk/agi-secret").returncode == 0


# -- refusals, one line each -----------------------------------------------------------------------


def test_an_edited_marker_is_refused_and_nothing_is_changed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with server_root("asterisk") as root:
        manager = root / "etc/asterisk/manager.conf"
        manager.write_text(manager.read_text() + "; >>> callback-desk 0.1.0: added\n[x]\n")
        before = tree(root)
        code, out, err = cli(capsys, *install_args(root))
        assert code == 2 and err.count("\n") == 1, err
        assert "without its end line; fix it by hand" in err
        assert tree(root) == before and out == ""


def test_not_root_is_refused_before_anything_happens(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = fresh_root("none")
    try:
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-m", "callback_desk.cli", "install", "--root", str(root)],
            capture_output=True, text=True, timeout=60, cwd="/",
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().endswith("must run as root (it creates users and writes /etc); "
                                            "try --dry-run")  # fmt: skip
        assert "Traceback" not in proc.stderr
    finally:
        import shutil

        shutil.rmtree(root)


def test_an_existing_config_is_kept_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    with server_root("freepbx") as root:
        etc = root / "etc/callback-desk"
        etc.mkdir()
        etc.chmod(0o755)
        mine = (
            '[database]\ndsn = "postgresql://db.example.org/cd"\n'
            '[agi]\ncallback_number = "+12125550100"\n'
        )
        (etc / "callback-desk.toml").write_text(mine)
        (etc / "callback-desk.toml").chmod(0o644)
        fresh = tree(root)
        code, out, err = cli(capsys, *install_args(root))
        assert code == 0, err
        assert (etc / "callback-desk.toml").read_text() == mine
        assert ("change          /etc/callback-desk/callback-desk.toml  content kept; owner "
                "root:root -> root:callback-desk; mode 0644 -> 0640") in out  # fmt: skip
        assert "next: set [agi] callback_number" not in out
        # Uninstall removes what install created; the config and its directory were yours, and
        # get back the owner and mode they had.
        before = tree(root)
        code, out, err = cli(capsys, "uninstall", "--root", str(root))
        assert code == 0, err
        assert (etc / "callback-desk.toml").read_text() == mine
        assert (
            "change          /etc/callback-desk/callback-desk.toml  back to root:root 0644" in out
        )
        assert without_tool_leftovers(tree(root))["etc/callback-desk"] == fresh["etc/callback-desk"]
        assert (etc / "callback-desk.toml").stat().st_mode & 0o777 == 0o644
        assert before != tree(root)


def test_a_file_changed_since_install_is_kept_by_uninstall(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with server_root("none") as root:
        code, _out, err = cli(capsys, *install_args(root))
        assert code == 0, err
        report = root / "etc/callback-desk/report.env"
        report.write_text(report.read_text() + "CALLBACK_DESK_SMTP_PASSWORD=mail\n")
        code, out, err = cli(capsys, "uninstall", "--root", str(root))
        assert code == 0, err
        assert "keep            /etc/callback-desk/report.env  changed since install" in out
        assert report.exists() and (root / "etc/callback-desk/installed.json").exists()
        code, out, err = cli(capsys, "uninstall", "--root", str(root), "--drop-data")
        assert code == 0, err
        assert not (root / "etc/callback-desk").exists()


# -- restart on upgrade (the executor's rule, without systemd here) -------------------------------


def test_what_runs_is_restarted_only_when_an_earlier_install_is_upgraded(tmp_path: Path) -> None:
    import io

    restart = a.Command((("systemctl", "try-restart", "x.service"),), ("program", "/etc/x.env"),
                        "restart what runs", upgrade_only=True)  # fmt: skip
    for manifest, said in (
        (Manifest(), "unchanged"),  # a first install: the units were just started
        (Manifest(version=__version__, existed=True), "unchanged"),  # nothing changed
        (Manifest(version="0.0.9", existed=True), "would run"),  # pip install --upgrade
    ):
        out = io.StringIO()
        executor = Executor(tmp_path, out, dry_run=True, manifest=manifest)
        asyncio.run(executor.run([restart]))
        assert out.getvalue().startswith(said), out.getvalue()
    assert "(the program's version changed)" in out.getvalue()


# -- SCRAM: the verifier install sends instead of a password -------------------------------------


async def test_the_verifier_install_sends_is_one_postgresql_accepts_for_the_password(
    empty_db_dsn: str,
) -> None:
    conn = await asyncpg.connect(empty_db_dsn)
    role = f"cbd_scram_{id(conn) % 100000}"
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{db.scram_verifier('pw one')}'")
        stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        assert db.scram_matches("pw one", stored)
        assert not db.scram_matches("pw two", stored)
        # PostgreSQL's own verifier of a password compares the same way.
        await conn.execute("SET password_encryption = 'scram-sha-256'")
        await conn.execute(f"ALTER ROLE {role} PASSWORD 'pw three'")
        stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        assert db.scram_matches("pw three", stored) and not db.scram_matches("pw one", stored)
    finally:
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.close()


def test_freepbx_install_names_a_trunk_that_forces_its_caller_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "Force Trunk CID" on trunk 2, as FreePBX writes it: that trunk's callbacks would show it.
    with server_root("freepbx") as root:
        (root / "etc/asterisk/extensions_additional.conf").write_text(
            '[globals]\nOUTKEEPCID_2 = all\nFORCEDOUTCID_2 = "Main" <+12125550199>\n'
        )
        code, out, err = cli(capsys, *install_args(root, "--dry-run"))
        assert code == 0, err
        assert 'next: FreePBX: trunk 2 forces caller ID "Main" <+12125550199>' in out
