"""``callback-desk install --root <lab root>`` against the real lab PBX, proven end to end: the
installed services, each as its own user with its unit's environment (tests/installed_services.py),
with Asterisk running as ``asterisk``, not root, on plain Asterisk (``dial_mode = "template"``) and
on the same PBX shaped as FreePBX 17 (``dial_mode = "freepbx"``, tests/lab/etc/freepbx):

- ``doctor`` passes every check;
- a real missed call is recorded by the installed listener;
- ``*47`` through the installed dialplan (``FILE()`` reading the secret as asterisk) returns the
  caller, and the carrier sees only the neutral caller ID;
- a click in the installed inbox rings the desk, and the carrier sees only the neutral caller ID;
- a second ``install`` changes nothing; ``uninstall`` leaves no marker line and no file of ours.

Plain Asterisk (the ``pbx`` instance, ``dial_mode = "template"``): its hand-made product pieces
are taken away for the test and put back after (tests/lab/NOTES.md, "Installing into the lab").
FreePBX: the same instance with FreePBX's dialplan, AMI files and AstDB entries in place of its
own for the test; the callbacks leave through FreePBX's outbound route and trunk macros, past a
trunk CID, a route CID and the extension's outbound CID, and the carrier sees only the neutral one.
Run under the lab lock; needs root (it installs users into the lab root).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from callback_desk.core import layout
from callback_desk.install import render
from fakes.poll import until
from tests.browser.test_web_browser import CHROMIUM, browser
from tests.conftest import unavailable
from tests.db.test_installer import TOOL_LEFTOVERS, changes
from tests.install_support import system_venv, tree
from tests.installed_services import Unit, as_root_in, run, running
from tests.lab.lab import DID_DIRECT, Instance, Lab
from tests.web_support import PASSWORD

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs users into the lab root (root only)"),
]
__all__ = ["browser"]  # a fixture, used by name

LAB_ROOT = Path(os.environ.get("CALLBACK_DESK_LAB_ROOT", "/var/cache/callback-desk/lab-root"))
# The installed services reach PostgreSQL over TCP as the installed config says (127.0.0.1:5432,
# each as its own login with a password): the machine's server, the one the lab PBX writes its
# CDR to (labctl's CALLBACK_DESK_LAB_PG) - never the tests' embedded one, whose socket lives in
# a directory only root may enter. Our database and logins are dropped again by uninstall.
LAB_PG = os.environ.get("CALLBACK_DESK_LAB_PG", "postgresql://postgres@127.0.0.1:5432")
REPO_PBX = Path(__file__).parent / "etc" / "pbx"
NEUTRAL_NUMBER = "+12125550100"
NEUTRAL_NAME = "Appointments"
# The lab's hand-made product pieces (tests/lab/NOTES.md): away while the installer's are in.
HAND_MADE = ("manager_callback_desk_lab.conf", "extensions_callback_desk_lab.conf")
TIMESTAMPS = "timestampevents = yes\n"
SETTINGS = "manager show settings"
RUNNING = [f"callback-desk-{c.name}.service" for c in layout.COMPONENTS if not c.timer]


@dataclass(frozen=True)
class Pbx:
    """One lab PBX as the installer meets it."""

    instance: Instance  # the Lab's name for it
    kind: str  # --pbx
    etc: PurePosixPath  # Asterisk's etc, inside the root
    dial_mode: str

    @property
    def host_etc(self) -> Path:
        return LAB_ROOT / str(self.etc).lstrip("/")

    @property
    def cli(self) -> str:
        """How the installer runs Asterisk CLI commands on it (its control socket)."""
        return f"chroot {LAB_ROOT} /usr/sbin/asterisk -C {self.etc}/asterisk.conf -rx"


PLAIN = Pbx("pbx", "asterisk", PurePosixPath("/opt/pbx/etc/asterisk"), "template")
# The same pbx instance as FreePBX 17 shapes it (tests/lab/etc/freepbx), for the freepbx test.
FREEPBX = Pbx("pbx", "freepbx", PurePosixPath("/opt/pbx/etc/asterisk"), "freepbx")
REPO_FREEPBX = Path(__file__).parent / "etc" / "freepbx"
QUEUES_RELOAD = "module reload app_queue.so"  # FreePBX's queue 400 in, the lab's support back
# What FreePBX keeps in AstDB for extensions 100 and 101 (core: AMPUSER/<ext>/..., DEVICE/<dev>/...)
# and reads in its dialplan. The lab's one deviation: the device's dial string names the phones
# instance, where all the lab's desks answer. 100 has an outbound CID set by the admin.
FREEPBX_ASTDB = {
    "AMPUSER/100": {"cidname": "Desk 100", "cidnum": "100", "device": "100",
                    "outboundcid": '"Dr Office" <+12125550166>', "voicemail": "default"},
    "AMPUSER/101": {"cidname": "Desk 101", "cidnum": "101", "device": "101",
                    "outboundcid": "", "voicemail": "novm"},
    "DEVICE/100": {"dial": "PJSIP/100@phones", "type": "fixed", "user": "100"},
    "DEVICE/101": {"dial": "PJSIP/101@phones", "type": "fixed", "user": "101"},
}  # fmt: skip
# The caller IDs the admin set on that FreePBX (extensions_additional.conf, FREEPBX_ASTDB): none
# of them may reach the callee of a callback.
FREEPBX_CIDS = ("+12125550155", "+12125550144", "+12125550166")


def _admin(dsn: str, database: str = "postgres") -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def _reload(lab: Lab, instance: Instance) -> None:
    for command in ("manager reload", "dialplan reload"):
        await lab.command(instance, command)


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The wheel in a venv of the system's Python, as the admin installs it (the services'
    users cannot run a Python that lives under /root)."""
    path = system_venv(tmp_path_factory.mktemp("wheel"), Path(__file__).resolve().parents[2])
    try:
        yield str(path)
    finally:
        shutil.rmtree(path.parent.parent, ignore_errors=True)


@pytest.fixture
async def plain_pbx(lab: Lab, tmp_path: Path) -> AsyncIterator[Pbx]:
    """The plain lab PBX without the hand-made product pieces; put back as it was after."""
    etc = PLAIN.host_etc
    backup = _backup(etc, tmp_path)
    try:
        for name in HAND_MADE:
            (etc / name).unlink(missing_ok=True)
        if "[callback-desk-dial]" in (etc / "extensions.conf").read_text():
            # A lab still on the one-file layout: this run gets the split files.
            for name in ("extensions.conf", "manager.conf"):
                st = (etc / name).stat()
                shutil.copyfile(REPO_PBX / name, etc / name)
                os.chown(etc / name, st.st_uid, st.st_gid)
        # Timestamps off, as on a PBX whose admin never turned them on (Debian's default; said
        # out loud here: Asterisk keeps a removed setting's old value until it restarts).
        # install must turn them on, in [general](+), without touching the admin's line.
        manager = etc / "manager.conf"
        text = manager.read_text()
        assert TIMESTAMPS in text
        manager.write_text(text.replace(TIMESTAMPS, "timestampevents = no\n"))
        await _reload(lab, PLAIN.instance)
        assert "Timestamp events:          No" in await lab.command(PLAIN.instance, SETTINGS)
        yield PLAIN
    finally:
        _restore(etc, backup)
        await _reload(lab, PLAIN.instance)


def _backup(etc: Path, tmp_path: Path) -> Path:
    """Asterisk's etc as it is (owners and modes too), for :func:`_restore`."""
    backup = tmp_path / "pbx-etc.tar"
    with tarfile.open(backup, "w") as tar:
        tar.add(etc, arcname=".")
    return backup


def _restore(etc: Path, backup: Path) -> None:
    for child in etc.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    with tarfile.open(backup) as tar:
        tar.extractall(etc, filter="fully_trusted")


@pytest.fixture
async def freepbx_pbx(lab: Lab, tmp_path: Path) -> AsyncIterator[Pbx]:
    """The lab PBX as FreePBX 17 shapes it, without the hand-made product pieces: FreePBX's
    extensions.conf / extensions_additional.conf / manager.conf with its empty *_custom.conf
    files, and its AstDB entries. Put back as it was after (files, AstDB, reloads)."""
    etc = FREEPBX.host_etc
    backup = _backup(etc, tmp_path)
    owner = (etc / "extensions.conf").stat()
    try:
        for name in HAND_MADE:
            (etc / name).unlink(missing_ok=True)
        for source in REPO_FREEPBX.iterdir():
            shutil.copyfile(source, etc / source.name)
            os.chown(etc / source.name, owner.st_uid, owner.st_gid)
            (etc / source.name).chmod(0o640)
        for family, keys in FREEPBX_ASTDB.items():
            for key, value in keys.items():
                await lab.action("pbx", "DBPut", {"Family": family, "Key": key, "Val": value})
        await _reload(lab, FREEPBX.instance)
        await lab.command("pbx", QUEUES_RELOAD)
        assert "outrt-1" in await lab.command("pbx", "dialplan show outbound-allroutes")
        yield FREEPBX
    finally:
        _restore(etc, backup)
        for family in ("AMPUSER", "DEVICE"):
            await lab.command("pbx", f"database deltree {family}")
        await _reload(lab, FREEPBX.instance)
        await lab.command("pbx", QUEUES_RELOAD)


def _asterisk_users(pbx: Pbx) -> set[int]:
    """The uids the PBX's Asterisk processes run as."""
    want = ["/usr/sbin/asterisk", "-C", f"{pbx.etc}/asterisk.conf"]
    uids = set()
    for proc in Path("/proc").iterdir():
        try:
            if (proc / "cmdline").read_bytes().split(b"\0")[:-1] == [w.encode() for w in want]:
                uids.add(proc.stat().st_uid)
        except OSError:
            continue
    return uids


def _root_uid(user: str) -> int:
    for line in (LAB_ROOT / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2])
    raise KeyError(user)


def _snapshot(pbx: Pbx) -> dict[str, Any]:
    """What install may touch in the lab root, and what must be as before after uninstall."""
    out: dict[str, Any] = {}
    for where in ("etc", "usr/local/bin", "var/lib/callback-desk", str(pbx.etc).lstrip("/")):
        path = LAB_ROOT / where
        if path.exists():
            for key, value in tree(path).items():
                name = f"{where}/{key}"
                if not TOOL_LEFTOVERS.match(name) and not name.startswith("etc/asterisk/"):
                    out[name] = value
    return out


async def _row(admin: str, database: str, number: str) -> asyncpg.Record:
    """The listener's row for ``number``, once it is there."""
    found: list[asyncpg.Record] = []

    async def recorded() -> bool:
        conn = await asyncpg.connect(_admin(admin, database))
        try:
            row = await conn.fetchrow(
                "SELECT id, number, outcome FROM calls WHERE number LIKE '%' || $1", number
            )
        finally:
            await conn.close()
        if row is not None:
            found.append(row)
        return row is not None

    await until(recorded, timeout=60, interval=0.5, what=f"the listener's row for {number}")
    return found[-1]


async def _callback_answered(admin: str, database: str, call_id: int) -> bool:
    conn = await asyncpg.connect(_admin(admin, database))
    try:
        status = await conn.fetchval(
            "SELECT dial_status FROM callback_attempts WHERE call_id = $1 "
            "ORDER BY started_at DESC LIMIT 1",
            call_id,
        )
    finally:
        await conn.close()
    return bool(status == "ANSWER")


async def _port_open(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.fixture
async def lab_pg() -> str:
    """The machine's PostgreSQL on 127.0.0.1:5432, as the installed services reach it."""
    try:
        conn = await asyncpg.connect(_admin(LAB_PG), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("LAB", f"no PostgreSQL at {LAB_PG} for the installed services: {exc}")
    await conn.close()
    return _admin(LAB_PG)


async def test_installed_on_plain_asterisk_end_to_end(
    lab: Lab, plain_pbx: Pbx, program: str, lab_pg: str, browser: Any, tmp_path: Path
) -> None:
    await _install_and_prove(lab, plain_pbx, program, lab_pg, browser, tmp_path,
                             "PJSIP/{extension}@phones")  # fmt: skip


async def test_installed_on_freepbx_end_to_end(
    lab: Lab, freepbx_pbx: Pbx, program: str, lab_pg: str, browser: Any, tmp_path: Path
) -> None:
    """dial_mode = "freepbx": the callbacks leave through FreePBX's outbound route and trunk
    macros, past a trunk CID, a route CID (Override Extension) and the extension's outbound CID,
    and the carrier sees only the neutral caller ID (TRUNKCIDOVERRIDE wins over all three)."""
    # No --desk-channel: the sample's default, Local/{extension}@originate-skipvm (UCP's way).
    await _install_and_prove(lab, freepbx_pbx, program, lab_pg, browser, tmp_path, None)


async def _install_and_prove(
    lab: Lab, pbx: Pbx, program: str, admin: str, browser: Any, tmp_path: Path, desk: str | None
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed")
    database = f"cbd_lab_{uuid.uuid4().hex[:8]}"
    assert _asterisk_users(pbx) == {_root_uid("asterisk")}, "the lab's Asterisk runs as root"
    before = _snapshot(pbx)
    common = ["--root", str(LAB_ROOT), "--pbx", pbx.kind, "--asterisk-etc", str(pbx.etc),
              "--pg-admin", admin, "--database", database, "--asterisk-cli", pbx.cli]  # fmt: skip
    install = [program, "install", *common, "--init", "systemd",
               "--callback-number", NEUTRAL_NUMBER, "--callback-name", NEUTRAL_NAME,
               *(["--desk-channel", desk] if desk else []),
               "--timezone", "America/New_York"]  # fmt: skip
    try:
        code, out = await run(install)
        assert code == 0, out
        assert f"run             {pbx.cli} manager reload; {pbx.cli} dialplan reload" in out
        config = LAB_ROOT / str(layout.CONFIG).lstrip("/")
        assert re.search(rf'^dial_mode = "{pbx.dial_mode}"', config.read_text(), re.M)
        if pbx.kind == "asterisk":
            # What manager.conf lacked, added to [general] without touching its lines; Asterisk
            # applies it (the listener's call times are the PBX's).
            assert "                | [general](+)\n                | timestampevents = yes" in out
        assert "Timestamp events:          Yes" in await lab.command(pbx.instance, SETTINGS)
        # The admin's one edit: the inbox on a port free on this shared machine (the config is
        # theirs from now on; install keeps it).
        web_port = _free_port()
        config.write_text(render.set_toml_key(config.read_text(), "web", "port", str(web_port)))
        await _installed_works(lab, pbx, program, admin, database, browser, tmp_path, web_port)
        code, out = await run(install)
        assert code == 0, out
        assert changes(out) == [], changes(out)
    finally:
        code, out = await run([program, "uninstall", *common, "--drop-data"])
    assert code == 0, out
    after = _snapshot(pbx)
    differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert differ == [], [(k, before.get(k), after.get(k)) for k in differ]
    ours = [p for p in pbx.host_etc.rglob("*") if p.is_file() and ">>> callback-desk" in
            p.read_text(errors="replace")]  # fmt: skip
    assert ours == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _installed_works(
    lab: Lab,
    pbx: Pbx,
    program: str,
    admin: str,
    database: str,
    browser: Any,
    tmp_path: Path,
    web_port: int,
) -> None:
    async with running(LAB_ROOT, RUNNING, tmp_path) as services:
        for port in (4573, web_port):
            await until(lambda port=port: _port_open(port), timeout=30,
                        what=f"an installed service on port {port}")  # fmt: skip
        for service in services:
            assert service.process.returncode is None, service.output()
        # doctor, as the admin runs it (root), in the installed system's view.
        doctor = [program, "doctor", "--asterisk-etc", str(pbx.host_etc)]
        code, out = await run(as_root_in(LAB_ROOT, doctor))
        assert code == 0 and "✗" not in out, out
        assert out.count("✓ secret ") == len(layout.secret_files()), out
        assert "✓ FastAGI" in out and "✓ AMI login" in out and "✓ dialplan" in out

        # A real missed call, recorded by the installed listener.
        first = "2125550161"
        await lab.set_behaviour("phones", "100", "ring")
        call = await lab.inbound_call(DID_DIRECT, first, "Caller One", ring_timeout_ms=2000)
        await lab.wait_call_ended(call, timeout=30)
        row = await _row(admin, database, first)
        assert row["outcome"] == "missed"

        # *47 through the installed dialplan: the secret read with FILE() as asterisk.
        await lab.set_behaviour("carrier", first, "answer:4")
        await lab.desk_call(
            "100", "*47", then="dtmf", variables={"KEYS": "1", "HOLD": "30"}, own_endpoint=True
        )
        received = await lab.carrier_received_callerid(first, timeout=40)
        assert received.number in (NEUTRAL_NUMBER, NEUTRAL_NUMBER.removeprefix("+")), received
        assert received.name == NEUTRAL_NAME
        await until(lambda: _callback_answered(admin, database, row["id"]), timeout=40,
                    what="the *47 callback answered")  # fmt: skip
        await lab.wait_idle(timeout=60)

        # A click in the installed inbox rings the desk; the carrier sees the neutral number.
        second = "2125550162"
        call = await lab.inbound_call(DID_DIRECT, second, "Caller Two", ring_timeout_ms=2000)
        await lab.wait_call_ended(call, timeout=30)
        row = await _row(admin, database, second)
        web = Unit.read(LAB_ROOT, "callback-desk-web.service")
        add = [program, "user", "add", "jane", "--extension", "100", "--password-stdin",
               "--config", str(layout.CONFIG)]  # fmt: skip
        code, out = await run(web.argv(LAB_ROOT, add), stdin=PASSWORD + "\n")
        assert code == 0, out
        await lab.set_behaviour("phones", "100", "answer:20")
        await lab.set_behaviour("carrier", second, "answer:4")
        await lab.wait_idle(timeout=60)
        lab.clear_events()  # the desk rang for the missed call: only the click's rings now
        await _click_call(browser, f"http://127.0.0.1:{web_port}", second)
        desk = await lab.wait_received_callerid("phones", "100", timeout=20)
        assert "555-0162" in desk.name
        received = await lab.carrier_received_callerid(second, timeout=40)
        assert received.number in (NEUTRAL_NUMBER, NEUTRAL_NUMBER.removeprefix("+"))
        assert received.name == NEUTRAL_NAME
        await until(lambda: _callback_answered(admin, database, row["id"]), timeout=40,
                    what="the inbox's callback answered")  # fmt: skip
        await lab.wait_idle(timeout=60)
        for service in services:
            assert service.process.returncode is None, service.output()


async def _click_call(browser: Any, base_url: str, number: str) -> None:
    from playwright.async_api import expect

    from tests.browser.test_web_browser import sign_in_with_keyboard

    context = await browser.new_context()
    page = await context.new_page()
    await sign_in_with_keyboard(page, base_url, "jane")
    shown = f"({number[:3]}) {number[3:6]}-{number[6:]}"
    card = page.locator("section.caller", has_text=shown)
    await expect(card).to_be_visible()
    await card.get_by_role("button", name="Call from my desk phone").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Your desk phone answered", timeout=30_000
    )
    await context.close()


def test_the_split_lab_files_are_what_the_repository_has() -> None:
    # The fixture writes the repository's split files into a lab still on the old layout.
    for name in ("extensions.conf", "manager.conf"):
        assert "#tryinclude " in (REPO_PBX / name).read_text()
    assert all((REPO_PBX / name).is_file() for name in HAND_MADE)
    assert not re.search(r"^\[callback", (REPO_PBX / "manager.conf").read_text(), re.M)
