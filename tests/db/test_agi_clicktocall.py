"""Click-to-call against a strict fake AMI on a real socket, and the `callback-desk call` CLI."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agi.clicktocall import check_value, originate, originate_action
from agi.config import load
from agi.dialing import validate
from agi.queries import Callbacks
from callback_desk.core import record
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import (
    AmiError,
    AmiUnavailable,
    CallbackError,
    DeskUnavailable,
    NotAwaiting,
    NotCallable,
    OutOfScope,
    UnknownCall,
)
from callback_desk.core.model import CallRecord, Direction, Disposition, Outcome, Reason
from callback_desk.core.store import Store
from fakes.agi_runner import run_cli, toml_text
from fakes.ami_server import FakeAmi, Frame, frame
from fakes.settings import make_settings

# The component under test connects with cbd_desk's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_desk")

AGI = {"callback_number": "+12125550100", "desk_ring_seconds": 5}


def settings_for(dsn: str, ami: FakeAmi, **agi: object) -> Settings:
    return make_settings(
        dsn,
        ami={"host": "127.0.0.1", "port": ami.port, "username": "callbackdesk", "secret": "s3cret"},
        agi={**AGI, **agi},
    )


async def add_missed(store: Store, number: str | None, did: str = "2000") -> int:
    started = datetime.now(UTC) - timedelta(hours=1)
    await store.record_call(
        "pbx",
        CallRecord(
            linkedid=f"l-{number}-{did}",
            direction=Direction.INBOUND,
            outcome=Outcome.MISSED,
            reason=Reason.NO_ANSWER,
            number=number or "anonymous",
            name="",
            number_key=number,
            callable=number is not None,
            did=did,
            rang=("100",),
            started_at=started,
            ended_at=started + timedelta(seconds=9),
            ring_seconds=8,
            reached_voicemail=False,
        ),
    )
    return int(await store.pool.fetchval("SELECT max(id) FROM calls"))


def answers(response: str, reason: str) -> object:
    def respond(action: Frame) -> list[str]:
        aid = action["actionid"]
        return [
            frame(Response="Success", ActionID=aid, Message="Originate successfully queued"),
            frame(
                Event="OriginateResponse",
                Privilege="call,all",
                ActionID=aid,
                Response=response,
                Channel=action["channel"],
                Context=action["context"],
                Exten=action["exten"],
                Reason=reason,
                Uniqueid=action["channelid"],
                CallerIDNum="<unknown>",
                CallerIDName="<unknown>",
            ),
        ]

    return respond


async def test_originate_rings_the_desk_with_the_callee_on_its_display(
    db_dsn: str, store: Store, ami: FakeAmi
) -> None:
    call_id = await add_missed(store, "+12125550101")
    ami.responders["originate"] = answers("Success", "4")  # type: ignore[assignment]
    done = await originate(settings_for(db_dsn, ami), call_id, "100")
    sent = next(a for a in ami.actions if a.get("action") == "Originate")
    assert sent["channel"] == "PJSIP/100"
    assert sent["context"] == "callback-desk-dial" and sent["exten"] == str(call_id)
    assert sent["callerid"] == '"Callback (212) 555-0101" <2125550101>'
    assert sent["channelid"] == done.channel_id and done.channel_id.startswith("cbd-")
    assert sent["variable"] == "CALLBACK_DESK_EXTENSION=100"
    assert sent["timeout"] == "5000" and sent["async"] == "true"
    assert ami.logins == 1


@pytest.mark.parametrize(
    ("reason", "words"), [("5", "busy"), ("0", "offline"), ("3", "nobody answered")]
)
async def test_desk_that_does_not_answer_is_reported(
    db_dsn: str, store: Store, ami: FakeAmi, reason: str, words: str
) -> None:
    call_id = await add_missed(store, "+12125550101")
    ami.responders["originate"] = answers("Failure", reason)  # type: ignore[assignment]
    with pytest.raises(DeskUnavailable, match=words):
        await originate(settings_for(db_dsn, ami), call_id, "100")


async def test_unknown_id_and_uncallable_numbers_never_reach_ami(
    db_dsn: str, store: Store, ami: FakeAmi
) -> None:

    settings = settings_for(db_dsn, ami)
    with pytest.raises(UnknownCall):
        await originate(settings, 424242, "100")
    withheld = await add_missed(store, None)
    with pytest.raises(NotCallable):
        await originate(settings, withheld, "100")
    premium = await add_missed(store, "+19005550199")
    with pytest.raises(NotCallable):
        await originate(settings, premium, "100")
    other_line = await add_missed(store, "+12125550101", did="2001")
    with pytest.raises(OutOfScope):
        await originate(settings_for(db_dsn, ami, extensions={"100": ["2000"]}), other_line, "100")
    with pytest.raises(CallbackError, match="extension"):
        await originate(settings, premium, "100\r\nAction: Originate")
    assert ami.actions == []


async def test_a_caller_no_longer_awaiting_is_never_originated(
    db_dsn: str, store: Store, ami: FakeAmi
) -> None:
    settings = settings_for(db_dsn, ami)
    returned = await add_missed(store, "+12125550101")
    await Callbacks(store.pool).dispose(returned, "+12125550101", Disposition.NEVER, "101")
    with pytest.raises(NotAwaiting):
        await originate(settings, returned, "100")
    assert ami.actions == []


async def test_a_foreign_caller_shows_and_dials_in_international_form(
    db_dsn: str, store: Store, ami: FakeAmi
) -> None:
    call_id = await add_missed(store, "+442079460018")
    ami.responders["originate"] = answers("Success", "4")  # type: ignore[assignment]
    await originate(settings_for(db_dsn, ami, allow_regions=["US", "GB"]), call_id, "100")
    sent = next(a for a in ami.actions if a.get("action") == "Originate")
    assert sent["callerid"] == '"Callback +44 20 7946 0018" <011442079460018>'


async def test_ami_down_and_login_refused(db_dsn: str, store: Store, ami: FakeAmi) -> None:
    call_id = await add_missed(store, "+12125550101")
    port = ami.port
    await ami.close()
    down = settings_for(db_dsn, ami)
    with pytest.raises(AmiUnavailable, match=f"127.0.0.1:{port}"):
        await originate(down, call_id, "100")

    fresh = await FakeAmi(secret="other").start()
    try:
        with pytest.raises(AmiError, match="refused the login"):
            await originate(settings_for(db_dsn, fresh), call_id, "100")
    finally:
        await fresh.close()


SMUGGLED = "x\r\nAction: Command\r\nCommand: core stop now"


@pytest.mark.parametrize(
    "where", ["extension", "channel_id", "display", "dial", "desk_channel", "originate_context"]
)
def test_crlf_is_refused_in_every_action_value(where: str) -> None:
    # The attack: a second AMI action smuggled into any value the Originate carries, whether it
    # comes from the request, the number or the settings. Each is refused before it is sent,
    # whatever checked it upstream (the validator, the config loader, the inbox's form).
    with pytest.raises(CallbackError):
        check_value("CallerID", SMUGGLED)
    cfg = load(make_settings(agi=AGI))
    number = validate("+12125550101", cfg)
    request = {"extension": "100", "channel_id": "cbd-1"}
    if where in request:
        request[where] = SMUGGLED
    elif where in ("display", "dial"):
        number = replace(number, **{where: SMUGGLED})
    elif where == "desk_channel":
        cfg = record.replace(cfg, desk_channel=SMUGGLED)
    else:
        cfg = record.replace(cfg, originate_context=SMUGGLED)
    with pytest.raises(CallbackError, match="control characters"):
        originate_action(cfg, 7, request["extension"], number, request["channel_id"])


async def test_cli_call(db_dsn: str, store: Store, ami: FakeAmi, tmp_path: Path) -> None:
    call_id = await add_missed(store, "+12125550101")
    ami.responders["originate"] = answers("Success", "4")  # type: ignore[assignment]
    config = tmp_path / "c.toml"
    config.write_text(
        toml_text(
            {
                "database": {"dsn": db_dsn},
                "ami": {"host": "127.0.0.1", "port": ami.port, "secret": "s3cret"},
                "agi": {**AGI, "names": {"100": "Jane"}},
            }
        )
    )
    config.chmod(0o600)  # it holds the AMI secret: refused where others could read it

    async def cli(*args: str) -> tuple[int, str, str]:
        return await run_cli(config, *args)

    rc, out, err = await cli("call", str(call_id), "--from", "100")
    assert rc == 0, err
    assert "calling (212) 555-0101" in out and "this is Jane" in out
    rc, out, err = await cli("call", "999999", "--from", "100")
    assert rc == 1 and "no missed call has id 999999" in err and out == ""
