"""Async helper for the Callback Desk PBX lab (three real Asterisk instances).

Start the lab with ``sudo tests/lab/labctl up``; see ``tests/lab/NOTES.md`` for what the
instances do and what the PBX emits for each scenario.

* ``pbx``     127.0.0.1 - the practice PBX under test (DIDs 2000-2003, desks 100/101)
* ``carrier`` 127.0.0.2 - the PSTN; places inbound calls, answers outbound calls
* ``phones``  127.0.0.3 - the desk phones; answer/ring/busy per extension, place calls

Typical use::

    reason = await lab_available()
    if reason:
        pytest.skip(reason)
    lab = await Lab.connect()
    try:
        await lab.set_behaviour("phones", "100", "answer")
        await lab.inbound_call(DID_DIRECT, "+15551230001", "Alice", then="talk")
        await lab.wait_pbx_idle(30)
    finally:
        await lab.close()

Everything here waits by polling a condition against a deadline; nothing sleeps blindly.
Values sent to AMI are checked: panoramisk writes action values verbatim, so a CR or LF
in a value would inject AMI headers. Those are rejected (``ValueError``), except in the
caller-ID *name*, where each run of CR/LF is folded into one space (see
``format_callerid``) because neither AMI nor SIP can carry a line break there.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from panoramisk import Manager

__all__ = [
    "AMI_PORT",
    "BEHAVIOURS",
    "CLICK_TO_CALL_USER",
    "DESKS",
    "DID_DIRECT",
    "DID_IVR",
    "DID_QUEUE",
    "DID_RINGGROUP",
    "HOSTS",
    "INSTANCES",
    "MAILBOX",
    "PRODUCT_USER",
    "Event",
    "Instance",
    "Lab",
    "LabError",
    "ReceivedCallerID",
    "ami_probe",
    "events_named",
    "field",
    "format_callerid",
    "lab_available",
]

Instance = Literal["pbx", "carrier", "phones"]
Event = Mapping[str, Any]
"""One AMI event as panoramisk parsed it (case-insensitive keys; repeated headers are lists)."""

INSTANCES: Final[tuple[Instance, ...]] = ("pbx", "carrier", "phones")
HOSTS: Final[Mapping[Instance, str]] = {
    "pbx": "127.0.0.1",
    "carrier": "127.0.0.2",
    "phones": "127.0.0.3",
}
AMI_PORT: Final = 5038
LAB_USER: Final = "lab"
LAB_SECRET: Final = "lab"
# The product's own AMI account on the PBX (restricted read classes; see manager.conf).
PRODUCT_USER: Final[Mapping[str, str]] = {"username": "callbackdesk", "secret": "labsecret"}
# Click-to-call's own account (write = originate only), as in manager.conf.sample.
CLICK_TO_CALL_USER: Final[Mapping[str, str]] = {
    "username": "callbackdesk-call",
    "secret": "labcallsecret",
}

DID_DIRECT: Final = "2000"  # Dial desk 100 6 s, then VoiceMail(100@default,u)
DID_RINGGROUP: Final = "2001"  # Dial desks 100&101 8 s, then goodbye, no voicemail
DID_QUEUE: Final = "2002"  # Queue(support) with desks 100/101, 60 s
DID_IVR: Final = "2003"  # Answer, Background, WaitExten(10); 1 -> DID 2000
DESKS: Final = ("100", "101")
MAILBOX: Final = "100@default"

BEHAVIOURS: Final = frozenset({"answer", "ring", "busy", "congestion"})
"""Values for ``set_behaviour`` (optionally ``"answer:<hold seconds>"``)."""

CARRIER_THEN: Final = frozenset({"talk", "greeting", "message", "dtmf1"})
PHONES_THEN: Final = frozenset({"talk", "dtmf"})

_POLL: Final = 0.05
_NUMBER_RE: Final = re.compile(r"[A-Za-z0-9+*#._-]{0,64}")
_DIALABLE_RE: Final = re.compile(r"\+?[0-9]{1,32}")
_KEY_RE: Final = re.compile(r"\+?[0-9A-Za-z_*#-]{1,64}")
_VARNAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,-]*\))?")
_CRLF_RUN: Final = re.compile(r"[\r\n]+")


class LabError(RuntimeError):
    """The lab did not do what was asked (AMI error, time-out, lab not running)."""


def _header(value: object, what: str) -> str:
    """Return ``value`` as an AMI header value, refusing anything that could inject headers."""
    text = str(value)
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"{what} must not contain CR, LF or NUL: {text!r}")
    return text


def format_callerid(name: str | None, number: str) -> str:
    """Build an AMI ``CallerID`` value that Asterisk parses back to exactly ``name``/``number``.

    Asterisk's ``ast_callerid_parse`` takes the number from the last ``<...>`` and un-escapes
    backslash sequences inside the quoted name, so ``"`` and ``\\`` are escaped with a
    backslash; commas, ``&``, ``<``, ``>`` and any Unicode survive as they are. CR/LF cannot
    travel in an AMI header (nor in a SIP display name), so each run of them becomes one
    space. ``name=None`` or ``""`` sends the number only.
    """
    if not _NUMBER_RE.fullmatch(number):
        raise ValueError(f"caller number must match {_NUMBER_RE.pattern}: {number!r}")
    if not name:
        return f"<{number}>"
    clean = _CRLF_RUN.sub(" ", name).replace("\0", "")
    escaped = clean.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{number}>'


def _variables(variables: Mapping[str, object] | None) -> list[str]:
    out: list[str] = []
    for key, value in (variables or {}).items():
        if not _VARNAME_RE.fullmatch(key):
            raise ValueError(f"bad channel variable name: {key!r}")
        out.append(f"{key}={_header(value, f'variable {key}')}")
    return out


def _get(event: Event, key: str) -> str:
    value = event.get(key, "")
    if isinstance(value, list):
        return str(value[-1]) if value else ""
    return str(value)


async def ami_probe(host: str, port: int = AMI_PORT, timeout: float = 3.0) -> str | None:
    """Log in to one AMI as the lab user with a raw socket; None if it works, else why not.

    Deliberately not panoramisk: a failed panoramisk connect keeps retrying in the
    background forever.
    """
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            banner = await reader.readline()
            if not banner.startswith(b"Asterisk Call Manager/"):
                return f"{host}:{port} is not an Asterisk AMI (banner {banner[:40]!r})"
            writer.write(
                f"Action: Login\r\nUsername: {LAB_USER}\r\nSecret: {LAB_SECRET}\r\n"
                "Events: off\r\n\r\n".encode()
            )
            await writer.drain()
            while line := await reader.readline():
                if line.startswith(b"Response: Success"):
                    writer.write(b"Action: Logoff\r\n\r\n")
                    await writer.drain()
                    return None
                if line.startswith(b"Response:"):
                    return f"AMI {host}:{port} refused the lab login ({line.strip().decode()})"
            return f"AMI {host}:{port} closed the connection during login"
    except TimeoutError:
        return f"AMI {host}:{port} did not answer a login within {timeout:g}s"
    except OSError as exc:
        return f"AMI {host}:{port} unreachable ({exc.strerror or exc})"
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def lab_available(timeout: float = 3.0) -> str | None:
    """None if the AMIs of pbx, carrier and phones all accept a login, else a reason to skip."""
    reasons = await asyncio.gather(*(ami_probe(HOSTS[n], timeout=timeout) for n in INSTANCES))
    bad = [f"{n}: {r}" for n, r in zip(INSTANCES, reasons, strict=True) if r]
    if not bad:
        return None
    return "Asterisk lab not running (start it: sudo tests/lab/labctl up): " + "; ".join(bad)


@dataclass(frozen=True)
class ReceivedCallerID:
    """Caller ID as presented to the carrier or a desk (the inbound channel's Newchannel)."""

    number: str
    name: str
    exten: str
    channel: str
    uniqueid: str


class Lab:
    """Connections to the three lab AMIs (user ``lab``) plus an event recorder per instance.

    Every event each AMI sends is kept in ``events[instance]`` in arrival order (call
    ``clear_events`` between scenarios). Create it with ``await Lab.connect()`` inside the
    running loop and always ``await lab.close()``.
    """

    def __init__(self, managers: Mapping[Instance, Any]) -> None:
        self._managers: dict[Instance, Any] = dict(managers)
        self.events: dict[Instance, list[Event]] = {n: [] for n in INSTANCES}
        # Calls placed through this Lab (call id -> originating instance) not yet seen ending.
        self._calls: dict[str, Instance] = {}
        for name, manager in self._managers.items():
            manager.register_event("*", self._recorder(name))

    def _recorder(self, name: Instance) -> Callable[[Any, Event], None]:
        events = self.events[name]

        def record(_manager: Any, event: Event) -> None:
            events.append(event)

        return record

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def connect(cls, timeout: float = 10.0) -> Lab:
        """Log in to all three AMIs as ``lab``; ``LabError`` if the lab is not running."""
        reason = await lab_available(timeout=min(timeout, 3.0))
        if reason:
            raise LabError(reason)
        loop = asyncio.get_running_loop()
        managers: dict[Instance, Any] = {}
        try:
            for name in INSTANCES:
                manager = Manager(
                    loop=loop,
                    host=HOSTS[name],
                    port=AMI_PORT,
                    username=LAB_USER,
                    secret=LAB_SECRET,
                    ping_delay=30,
                    ping_interval=30,
                )
                managers[name] = manager
                async with asyncio.timeout(timeout):
                    await manager.connect()
                    while manager.authenticated_future is not None:
                        await manager.authenticated_future
                if not manager.authenticated:
                    raise LabError(f"{name}: AMI login as {LAB_USER!r} failed")
        except BaseException:
            for manager in managers.values():
                manager.close()
            raise
        return cls(managers)

    async def close(self) -> None:
        for manager in self._managers.values():
            manager.close()
        self._managers.clear()

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -------------------------------------------------------------------- actions
    async def action(
        self, instance: Instance, action: str, fields: Mapping[str, object] | None = None
    ) -> Event:
        """Send one AMI action and return its response; ``LabError`` on ``Response: Error``."""
        manager = self._managers.get(instance)
        if manager is None:
            raise LabError("Lab is closed")
        payload: dict[str, object] = {"Action": _header(action, "action name")}
        for key, value in (fields or {}).items():
            _header(key, "header name")
            if isinstance(value, list | tuple):
                payload[key] = [_header(v, key) for v in value]
            else:
                payload[key] = _header(value, key)
        response: Event = await manager.send_action(payload, as_list=False)
        if _get(response, "Response") == "Error":
            raise LabError(f"{instance}: {action} failed: {_get(response, 'Message')}")
        return response

    async def action_list(
        self,
        instance: Instance,
        action: str,
        fields: Mapping[str, object] | None = None,
        timeout: float = 10.0,
    ) -> list[Event]:
        """Send an action that answers with an event list; return the list's events."""
        manager = self._managers.get(instance)
        if manager is None:
            raise LabError("Lab is closed")
        payload: dict[str, object] = {"Action": _header(action, "action name")}
        payload.update({k: _header(v, k) for k, v in (fields or {}).items()})
        async with asyncio.timeout(timeout):
            result = await manager.send_action(payload, as_list=True)
        messages: list[Event] = list(result) if isinstance(result, list) else [result]
        if messages and _get(messages[0], "Response") == "Error":
            raise LabError(f"{instance}: {action} failed: {_get(messages[0], 'Message')}")
        return [m for m in messages[1:] if not _get(m, "Event").endswith("Complete")]

    async def command(self, instance: Instance, cli: str) -> str:
        """Run a CLI command through AMI and return its output."""
        response = await self.action(instance, "Command", {"Command": cli})
        output = response.get("Output", "")
        if isinstance(output, list):
            return "\n".join(str(line) for line in output)
        return str(output) or str(getattr(response, "content", ""))

    # ----------------------------------------------------------------- behaviours
    async def set_behaviour(
        self, instance: Literal["phones", "carrier"], key: str, behaviour: str
    ) -> None:
        """What the carrier (per dialled number) or a desk (per extension) does when called.

        ``behaviour`` is ``answer`` (carrier default), ``ring`` (phones default), ``busy`` or
        ``congestion``, optionally with ``:<seconds>`` talk time for ``answer`` (default 5).
        """
        name, _, hold = behaviour.partition(":")
        if name not in BEHAVIOURS or (hold and not hold.isdigit()):
            raise ValueError(f"behaviour must be one of {sorted(BEHAVIOURS)}[:seconds]")
        if not _KEY_RE.fullmatch(key):
            raise ValueError(f"bad behaviour key {key!r}")
        await self.action(instance, "DBPut", {"Family": "lab", "Key": key, "Val": behaviour})

    async def reset_behaviours(self) -> None:
        """Back to defaults: the carrier answers every number, every desk rings forever."""
        for instance in ("phones", "carrier"):
            try:
                await self.action(instance, "DBDelTree", {"Family": "lab"})
            except LabError as exc:  # DBDelTree of an empty family: "Database entry not found"
                if "not found" not in str(exc).lower():
                    raise

    # ---------------------------------------------------------------------- calls
    async def _originate(
        self,
        instance: Instance,
        dial: str,
        callerid: str,
        then: str,
        ring_timeout_ms: int,
        variables: Mapping[str, object] | None,
        channel: str | None = None,
    ) -> str:
        if ring_timeout_ms <= 0:
            raise ValueError("ring_timeout_ms must be positive")
        call_id = f"lab-{instance}-{uuid.uuid4().hex[:16]}"
        fields: dict[str, object] = {
            # The ActionID ties an early OriginateResponse (Failure before any channel
            # existed) to the call; ChannelId names the caller's channel (its Uniqueid).
            "ActionID": call_id,
            "Channel": channel or f"PJSIP/{dial}@pbx",
            "Context": "caller",
            "Exten": then,
            "Priority": 1,
            "CallerID": callerid,
            "Timeout": ring_timeout_ms,
            "Async": "true",
            "ChannelId": call_id,
        }
        var_lines = _variables(variables)
        if var_lines:
            fields["Variable"] = var_lines
        self._calls[call_id] = instance
        try:
            await self.action(instance, "Originate", fields)
        except BaseException:
            del self._calls[call_id]
            raise
        return call_id

    async def inbound_call(
        self,
        did: str,
        number: str,
        name: str | None = None,
        then: str = "talk",
        ring_timeout_ms: int = 30000,
        variables: Mapping[str, object] | None = None,
        withheld: bool = False,
    ) -> str:
        """A PSTN caller dials ``did``; returns the carrier channel's Uniqueid (ChannelId).

        ``ring_timeout_ms``: the caller gives up if not answered by then. ``then``: what the
        caller does once the PBX answers (``talk``: stay HOLD s, default 4; ``greeting``:
        hang up 2 s into the voicemail greeting; ``message``: leave a ~4 s voicemail;
        ``dtmf1``: press 1 after 1 s, stay HOLD s). ``variables`` are set on the caller's
        channel (HOLD, GREETING). ``withheld=True``: the caller withholds the number; the
        carrier then sends ``From: "Anonymous" <sip:anonymous@anonymous.invalid>`` and no
        P-Asserted-Identity, so the PBX sees CallerIDNum ``anonymous`` / CallerIDName
        ``Anonymous`` (same as ``number="anonymous", name="Anonymous"``).
        """
        if not _DIALABLE_RE.fullmatch(did):
            raise ValueError(f"bad DID {did!r}")
        if then not in CARRIER_THEN:
            raise ValueError(f"then must be one of {sorted(CARRIER_THEN)}")
        callerid = format_callerid(name, number)
        if not withheld:
            return await self._originate("carrier", did, callerid, then, ring_timeout_ms, variables)
        # Originate cannot set a presentation (CALLERID(pres)/CONNECTEDLINE(pres) as
        # Originate variables are overwritten, observed), so a withheld call goes through
        # Local/<did>@withheld, which sets CALLERID(pres)=prohib and dials the PBX for
        # LAB_RING s. The call id names the Local;1 channel (the caller's side).
        merged: dict[str, object] = dict(variables or {})
        merged["LAB_RING"] = max(1, -(-ring_timeout_ms // 1000))
        return await self._originate(
            "carrier",
            did,
            callerid,
            then,
            ring_timeout_ms + 5000,
            merged,
            channel=f"Local/{did}@withheld/n",
        )

    async def desk_call(
        self,
        ext: str,
        number: str,
        then: str = "talk",
        variables: Mapping[str, object] | None = None,
        ring_timeout_ms: int = 30000,
        name: str | None = None,
        own_endpoint: bool = False,
        callerid_num: str | None = None,
    ) -> str:
        """Desk ``ext`` dials ``number`` (an extension: internal call; else outbound).

        Caller ID is ``"Desk <ext>" <ext>`` unless ``name``/``callerid_num`` are given.
        ``own_endpoint``: the call reaches the PBX as endpoint ``ext`` (desks 100/101, from
        127.0.0.4/5) instead of the shared ``phones`` endpoint, as an authenticated phone
        would. ``then``: ``talk`` (stay HOLD s, default 4) or ``dtmf`` (after 3 s send
        ``variables["KEYS"]``, then stay HOLD s). Returns the desk channel's Uniqueid on the
        phones instance.
        """
        if not re.fullmatch(r"[0-9]{2,6}", ext):
            raise ValueError(f"bad desk extension {ext!r}")
        if not re.fullmatch(r"\+?[0-9*#]{1,32}", number):
            raise ValueError(f"bad number {number!r}")
        if then not in PHONES_THEN:
            raise ValueError(f"then must be one of {sorted(PHONES_THEN)}")
        if then == "dtmf" and not re.fullmatch(r"[0-9*#A-Dw]+", str((variables or {}).get("KEYS"))):
            raise ValueError("then='dtmf' needs variables={'KEYS': '<digits>'}")
        if own_endpoint and ext not in ("100", "101"):
            raise ValueError("only desks 100 and 101 have their own endpoint")
        num = callerid_num or ext
        callerid = format_callerid(name or f"Desk {num}", num)
        channel = f"PJSIP/{number}@pbx-{ext}" if own_endpoint else None
        return await self._originate(
            "phones", number, callerid, then, ring_timeout_ms, variables, channel=channel
        )

    # ---------------------------------------------------------------------- waits
    async def wait_for(
        self,
        instance: Instance,
        predicate: Callable[[Event], bool],
        timeout: float = 10.0,
        what: str = "event",
        start: int = 0,
    ) -> Event:
        """Return the first recorded event of ``instance`` (from index ``start``) matching."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        events = self.events[instance]
        index = start
        while True:
            while index < len(events):
                event = events[index]
                index += 1
                if predicate(event):
                    return event
            if loop.time() >= deadline:
                raise LabError(f"{instance}: timed out after {timeout:g}s waiting for {what}")
            await asyncio.sleep(_POLL)

    async def wait_originate(self, call_id: str, timeout: float = 60.0) -> Event:
        """The ``OriginateResponse`` of a call placed by ``inbound_call``/``desk_call``.

        ``Response: Success`` once the far end answered; ``Failure`` with ``Reason`` 0 (no
        such extension/failed), 1 (hung up), 3 (ring timeout), 5 (busy), 8 (congestion).
        """
        return await self.wait_for(
            self._instance_of(call_id),
            lambda e: _get(e, "Event") == "OriginateResponse" and _get(e, "ActionID") == call_id,
            timeout,
            f"OriginateResponse of {call_id}",
        )

    def _instance_of(self, call_id: str) -> Instance:
        if call_id.startswith("lab-phones-"):
            return "phones"
        if call_id.startswith("lab-carrier-"):
            return "carrier"
        raise ValueError(f"not a call id from inbound_call/desk_call: {call_id!r}")

    def _ended(self, call_id: str) -> bool:
        """The caller's channel hung up, or the Originate failed without creating one."""
        for event in self.events[self._instance_of(call_id)]:
            name = _get(event, "Event")
            if name == "Hangup" and _get(event, "Uniqueid") == call_id:
                return True
            if (
                name == "OriginateResponse"
                and _get(event, "ActionID") == call_id
                and _get(event, "Response") != "Success"
                and not any(
                    _get(e, "Event") == "Newchannel" and _get(e, "Uniqueid") == call_id
                    for e in self.events[self._instance_of(call_id)]
                )
            ):
                return True
        return False

    async def wait_call_ended(self, call_id: str, timeout: float = 60.0) -> None:
        """Wait until the caller's side of ``call_id`` is over (its channel hung up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._ended(call_id):
            if loop.time() >= deadline:
                raise LabError(f"call {call_id} still up after {timeout:g}s")
            await asyncio.sleep(_POLL)
        self._calls.pop(call_id, None)

    async def wait_hangup(self, call_id: str, timeout: float = 60.0) -> Event:
        """The ``Hangup`` of the caller's own channel (carrier or phones side)."""
        return await self.wait_for(
            self._instance_of(call_id),
            lambda e: _get(e, "Event") == "Hangup" and _get(e, "Uniqueid") == call_id,
            timeout,
            f"Hangup of {call_id}",
        )

    async def channel_count(self, instance: Instance) -> int:
        return len(
            [
                e
                for e in await self.action_list(instance, "CoreShowChannels")
                if _get(e, "Event") == "CoreShowChannel"
            ]
        )

    async def wait_idle(
        self, instances: Iterable[Instance] = INSTANCES, timeout: float = 30.0
    ) -> None:
        """Wait until every call placed through this Lab has ended on the caller's side, then
        poll ``CoreShowChannels`` until the given instances have no channels left.

        (Originate is asynchronous: right after ``inbound_call`` the PBX may not have a
        channel yet, so an empty channel list alone would not mean "over".)
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for call_id in list(self._calls):
            await self.wait_call_ended(call_id, max(0.0, deadline - loop.time()))
        pending = list(instances)
        while pending:
            pending = [n for n in pending if await self.channel_count(n)]
            if not pending:
                return
            if loop.time() >= deadline:
                raise LabError(f"channels still up after {timeout:g}s on: {', '.join(pending)}")
            await asyncio.sleep(0.1)

    async def wait_pbx_idle(self, timeout: float = 30.0) -> None:
        """Poll the PBX until no channels remain (the call is fully over there)."""
        await self.wait_idle(("pbx",), timeout)

    # --------------------------------------------------------- received caller ID
    def received_callerids(self, instance: Literal["carrier", "phones"]) -> list[ReceivedCallerID]:
        """Caller IDs of calls that reached ``instance`` from the PBX, in arrival order."""
        return [
            ReceivedCallerID(
                number=_get(e, "CallerIDNum"),
                name=_get(e, "CallerIDName"),
                exten=_get(e, "Exten"),
                channel=_get(e, "Channel"),
                uniqueid=_get(e, "Uniqueid"),
            )
            for e in self.events[instance]
            if _get(e, "Event") == "Newchannel" and _get(e, "Context") == "from-pbx"
        ]

    async def wait_received_callerid(
        self, instance: Literal["carrier", "phones"], exten: str, timeout: float = 15.0
    ) -> ReceivedCallerID:
        """Wait for a call from the PBX to ``exten`` on ``instance``; return its caller ID."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for received in self.received_callerids(instance):
                if received.exten == exten:
                    return received
            if loop.time() >= deadline:
                raise LabError(f"{instance}: no call to {exten} from the PBX within {timeout:g}s")
            await asyncio.sleep(_POLL)

    async def carrier_received_callerid(
        self, number: str, timeout: float = 15.0
    ) -> ReceivedCallerID:
        """Caller ID the carrier received for the PBX's call to ``number`` (outbound/callback)."""
        return await self.wait_received_callerid("carrier", number, timeout)

    # -------------------------------------------------------------------- helpers
    def clear_events(self) -> None:
        for events in self.events.values():
            events.clear()

    def find(self, instance: Instance, event: str, **fields: str) -> list[Event]:
        """Recorded events of ``instance`` named ``event`` whose headers equal ``fields``."""
        return [
            e
            for e in self.events[instance]
            if _get(e, "Event") == event and all(_get(e, k) == v for k, v in fields.items())
        ]

    async def mailbox_count(self, mailbox: str = MAILBOX) -> tuple[int, int]:
        """(new, old) messages of a PBX mailbox."""
        response = await self.action("pbx", "MailboxCount", {"Mailbox": mailbox})
        return int(_get(response, "NewMessages") or 0), int(_get(response, "OldMessages") or 0)


def field(event: Event, key: str) -> str:
    """A header of ``event`` as a string (last value if repeated, ``""`` if absent)."""
    return _get(event, key)


def events_named(events: Sequence[Event], name: str) -> list[Event]:
    return [e for e in events if _get(e, "Event") == name]
