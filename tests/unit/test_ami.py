"""The one AMI client against a strict fake AMI on real sockets (plain TCP and TLS): framing
limits, hostile credentials, header injection, certificate verification."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agi.config import load
from callback_desk.core.ami import AmiClient
from callback_desk.core.amiframe import MAX_FRAME, FrameBuffer, encode_action
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import AmiError, AmiFramingError, AmiUnavailable, ConfigError
from fakes.agi_runner import REPO
from fakes.ami_server import FakeAmi
from fakes.poll import until
from fakes.settings import make_settings
from fakes.tls import Pki, make_pki

HOSTILE = "HOSTILE-SECRET"


def client_for(ami: FakeAmi, **kwargs: object) -> AmiClient:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": ami.port,
        "username": "callbackdesk",
        "secret": "s3cret",
        "ping_interval": 1.0,
        "reconnect_max": 1.0,
        **kwargs,
    }
    return AmiClient(**options)  # type: ignore[arg-type]


@pytest.fixture
async def connected(ami: FakeAmi) -> AsyncIterator[AmiClient]:
    client = client_for(ami)
    client.connect()
    try:
        async with asyncio.timeout(10):
            await client.logged_in.wait()
        yield client
    finally:
        await client.aclose()


# -- framing (pure) ----------------------------------------------------------------------------


def test_frames_split_at_every_byte_come_out_whole() -> None:
    stream = (
        "Asterisk Call Manager/9.0.0\r\n"
        "Event: Newchannel\r\nCallerIDName: José 日本\r\n\r\n"
        "Response: Success\r\nActionID: 1\r\n\r\n"
    ).encode()
    buffer = FrameBuffer()
    frames: list[str] = []
    for i in range(len(stream)):
        frames += buffer.feed(stream[i : i + 1])
    assert buffer.banner == "9.0.0"
    assert frames == [
        "Event: Newchannel\r\nCallerIDName: José 日本",
        "Response: Success\r\nActionID: 1",
    ]


def test_a_frame_without_an_end_is_refused_past_the_cap() -> None:
    buffer = FrameBuffer()
    buffer.feed(b"Asterisk Call Manager/9.0.0\r\nEvent: Flood\r\nX: ")
    chunk = b"A" * 65536
    fed = 0
    with pytest.raises(AmiFramingError, match="without an end"):
        for _ in range(8 * 1024 * 1024 // len(chunk)):  # the 8 MiB of the attack
            fed += len(chunk)
            buffer.feed(chunk)
    assert fed <= MAX_FRAME + len(chunk)


def test_a_peer_that_is_not_ami_is_refused() -> None:
    with pytest.raises(AmiFramingError, match="not an AMI server"):
        FrameBuffer().feed(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(AmiFramingError, match="no AMI banner"):
        FrameBuffer().feed(b"A" * 4096)


async def test_endless_frame_drops_the_link_and_the_client_reconnects(
    ami: FakeAmi, connected: AmiClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await ami.push_bytes(b"Event: Flood\r\nPayload: " + b"A" * (8 * 1024 * 1024))
    await until(
        lambda: any(getattr(r, "action", None) == "ami_framing_error" for r in caplog.records),
        what="framing error logged",
    )
    await until(lambda: ami.logins >= 2 and connected.logged_in.is_set(), what="second login")
    reply = await connected.send_action({"Action": "Ping"}, timeout=5)
    assert isinstance(reply, dict) and reply["ping"] == "Pong"


# -- actions and credentials -------------------------------------------------------------------


def test_encoded_action_refuses_injection_and_names_only_the_header() -> None:
    assert encode_action({"Action": "Ping", "Variable": ["A=1", "B=2"]}) == (
        b"Action: Ping\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"
    )
    for value in ("x\r\nAction: Originate", f"{HOSTILE}\udcff", "a\x00b"):
        with pytest.raises(AmiError, match="Channel") as info:
            encode_action({"Action": "Originate", "Channel": value})
        assert "Originate\r" not in str(info.value) and HOSTILE not in str(info.value)


async def test_injected_header_never_reaches_the_pbx(ami: FakeAmi, connected: AmiClient) -> None:
    with pytest.raises(AmiError):
        await connected.send_action({"Action": "Ping", "Data": "x\r\n\r\nAction: Originate"})
    assert await connected.send_action({"Action": "Ping"}, timeout=5)
    assert [a["action"] for a in ami.actions] == ["Login", "Ping"]


@pytest.mark.parametrize("secret", [f"{HOSTILE}\udcff", f"{HOSTILE}\r\nAction: Logoff", "\x7f"])
async def test_hostile_secret_never_reaches_a_log_or_the_pbx(
    ami: FakeAmi, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError, match=r"\[ami\] secret") as info:
        Settings.from_mapping(
            {"database": {"dsn": "postgresql://x/"}, "ami": {"secret": secret}}, environ={}
        )
    assert HOSTILE not in str(info.value)
    with pytest.raises(ConfigError, match="Secret") as info:
        client_for(ami, secret=secret).connect()
    assert HOSTILE not in str(info.value)
    assert HOSTILE not in caplog.text
    assert ami.actions == []


def test_listener_username_gets_the_control_character_check() -> None:
    with pytest.raises(ConfigError, match=r"\[ami\] username contains a control character"):
        make_settings(ami={"username": "desk\r\nAction: Originate"})


@pytest.mark.parametrize("command", ["listen", "call"])
def test_cli_with_a_non_utf8_secret_exits_2_without_echoing_it(command: str) -> None:
    env = {
        **{k.encode(): v.encode() for k, v in os.environ.items() if not k.startswith("CALLBACK")},
        b"CALLBACK_DESK_DATABASE_DSN": b"postgresql://nobody@127.0.0.1:1/none",
        b"CALLBACK_DESK_AMI_SECRET": HOSTILE.encode() + b"\xff\xfe",
        b"CALLBACK_DESK_CONFIG": b"/dev/null",
    }
    args = ["call", "1", "--from", "100"] if command == "call" else ["listen"]
    proc = subprocess.run(
        [sys.executable, "-m", "callback_desk.cli", *args],
        env=env,
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "secret is not valid UTF-8" in err
    assert HOSTILE not in err and HOSTILE not in proc.stdout.decode("utf-8", "replace")


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Pki]:
    """The PBX's PKI and an unrelated one (an attacker's, or a forgotten test CA)."""
    base = tmp_path_factory.mktemp("pki")
    return make_pki(base, "pbx"), make_pki(base, "other")


@pytest.fixture
async def tls_ami(pki: tuple[Pki, Pki]) -> AsyncIterator[FakeAmi]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki[0].cert, pki[0].key)
    fake = await FakeAmi().start(tls=context)
    try:
        yield fake
    finally:
        await fake.close()
    assert not fake.unexpected


def tls_settings(ami: FakeAmi, ca: Path, **extra: object) -> Settings:
    return make_settings(
        ami={"port": ami.port, "secret": "s3cret", "tls": True, "ca_file": str(ca), **extra}
    )


async def test_tls_with_the_pbx_ca_logs_in_and_answers(
    tls_ami: FakeAmi, pki: tuple[Pki, Pki]
) -> None:
    client = AmiClient.for_settings(tls_settings(tls_ami, pki[0].ca).ami)
    try:
        await client.open()
        reply = await client.send_action({"Action": "Ping"}, timeout=5)
        assert isinstance(reply, dict) and reply["ping"] == "Pong"
    finally:
        await client.aclose()
    assert tls_ami.logins == 1


@pytest.mark.parametrize("case", ["untrusted", "wrong_name", "plain_tcp"])
async def test_tls_refuses_a_certificate_it_cannot_verify(
    tls_ami: FakeAmi, ami: FakeAmi, pki: tuple[Pki, Pki], case: str
) -> None:
    if case == "untrusted":
        settings = tls_settings(tls_ami, pki[1].ca)
    elif case == "wrong_name":
        settings = tls_settings(tls_ami, pki[0].ca, server_name="pbx.example.org")
    else:  # a plain AMI where TLS was asked for: nothing is sent in clear text
        settings = tls_settings(ami, pki[0].ca)
    client = AmiClient.for_settings(settings.ami)
    try:
        with pytest.raises(AmiUnavailable, match="cannot reach AMI") as info:
            await client.open()
    finally:
        await client.aclose()
    if case != "plain_tcp":
        assert "not trusted" in str(info.value)
    assert tls_ami.logins == tls_ami.failed_logins == 0 and tls_ami.actions == []
    assert ami.actions == []


def test_tls_settings_are_checked_at_load(tmp_path: Path) -> None:
    assert make_settings(ami={"tls": True}).ami.port == 5039
    assert make_settings(ami={}).ami.port == 5038
    with pytest.raises(ConfigError, match=r"ca_file .* is not a readable file"):
        make_settings(ami={"tls": True, "ca_file": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match="need tls = true"):
        make_settings(ami={"server_name": "pbx.example.org"})


@pytest.mark.parametrize("key", ["ami_username", "ami_secret"])
def test_click_to_call_credentials_get_the_same_check_at_load(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[agi\] {key} (contains a control|is not valid)"):
        load(make_settings(agi={key: f"{HOSTILE}\r\nAction: Originate"}))
    with pytest.raises(ConfigError) as info:
        load(make_settings(agi={key: f"{HOSTILE}\udcff"}))
    assert HOSTILE not in str(info.value)
