"""``callback-desk user ...`` and ``callback-desk web`` as an operator runs them (subprocesses)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx

from fakes.agi_runner import REPO, toml_text
from fakes.poll import until
from tests.web_support import SECRET


async def run(config: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callback_desk.cli",
        "--config",
        str(config),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    except TimeoutError:
        proc.kill()  # e.g. a server that should have refused to start
        await proc.wait()
        raise AssertionError(f"callback-desk {' '.join(args)} did not exit") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, dsn: str, **web: object) -> Path:
    secret = tmp_path / "web.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    config = tmp_path / "c.toml"
    config.write_text(
        toml_text({"database": {"dsn": dsn}, "web": {"secret_file": str(secret), **web}})
    )
    return config


async def test_user_add_list_passwd_disable(db_dsn: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_dsn)
    rc, out, err = await run(
        config,
        "user",
        "add",
        "jane",
        "--extension",
        "101",
        "--email",
        "jane@example.org",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert rc == 0, err
    assert out == "added jane (therapist, desk 101)\n"
    rc, out, _ = await run(config, "user", "list")
    assert out == "jane\ttherapist\t101\tjane@example.org\tactive\n"
    rc, _, err = await run(
        config,
        "user",
        "add",
        "jane",
        "--extension",
        "101",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert rc == 2 and "already exists" in err and "Traceback" not in err
    rc, out, err = await run(
        config, "user", "passwd", "jane", "--password-stdin", stdin="another long one\n"
    )
    assert rc == 0 and "signed out" in out, err
    rc, out, _ = await run(config, "user", "disable", "jane")
    assert rc == 0 and out == "disabled jane\n"
    rc, out, _ = await run(config, "user", "list")
    assert out.endswith("\tdisabled\n")
    # The hash is argon2id, never the password.
    import asyncpg

    conn = await asyncpg.connect(db_dsn)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM web_users")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$") and "another long one" not in stored


async def test_user_mistakes_are_one_line_exit_2(db_dsn: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_dsn)
    cases = [
        (("user", "add", "Jane!", "--password-stdin"), "user name"),
        (("user", "add", "jane", "--role", "boss", "--password-stdin"), "--role"),
        (("user", "add", "jane", "--password-stdin"), "needs --extension"),
        (("user", "add", "jane", "--extension", "1x", "--password-stdin"), "--extension"),
        (("user", "add", "jane", "--extension", "101", "--password-stdin"), "at least 10"),
        (("user", "passwd", "nobody", "--password-stdin"), "no user 'nobody'"),
    ]
    for args, words in cases:
        rc, _, err = await run(
            config, *args, stdin="short\n" if "at least" in words else "x" * 12 + "\n"
        )
        assert rc == 2 and words in err and err.count("\n") == 1, (args, err)


async def test_web_command_serves_and_stops_on_sigterm(db_dsn: str, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(tmp_path, db_dsn, port=port)
    bare = tmp_path / "bare.toml"
    bare.write_text(toml_text({"database": {"dsn": db_dsn}}))
    rc, _, err = await run(bare, "web")
    assert rc == 2 and "[web] secret is required" in err
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callback_desk.cli",
        "--config",
        str(config),
        "web",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def up() -> bool:
                try:
                    return (await client.get("/sign-in")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(up, timeout=20, what="callback-desk web to answer")
            reply = await client.get("/sign-in")
            assert reply.headers["cache-control"] == "no-store"
            assert "server" not in reply.headers
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err_bytes = await proc.communicate()
    # uvicorn shuts down cleanly, then re-raises the signal it caught (systemd counts a SIGTERM
    # death as a clean stop); "Application shutdown complete" shows the lifespan ran.
    assert proc.returncode in (0, -signal.SIGTERM), err_bytes.decode()
    assert "Application shutdown complete" in err_bytes.decode()
    assert "GET /sign-in 200" in err_bytes.decode()


async def test_web_refuses_a_key_others_could_replace_or_read(db_dsn: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_dsn)
    key = tmp_path / "web.secret"
    key.chmod(0o660)  # group-writable: anyone in the group could swap in a key of their own
    rc, _, err = await run(config, "web")
    assert rc == 2 and err.count("\n") == 1, err
    assert "secret_file" in err and "is writable by group" in err and "chmod 0640" in err
    inline = tmp_path / "inline.toml"
    inline.write_text(toml_text({"database": {"dsn": db_dsn}, "web": {"secret": SECRET}}))
    inline.chmod(0o644)
    rc, _, err = await run(inline, "web")
    assert rc == 2 and err.count("\n") == 1, err
    assert "[web] secret is written in" in err and "readable by every local user" in err
    assert "secret_file" in err and SECRET not in err
