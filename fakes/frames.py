"""Build AMI event frames (CRLF text) for the fake AMI server."""

from __future__ import annotations


def channel(
    uid: str,
    linked: str,
    context: str = "from-pstn",
    exten: str = "2000",
    num: str = "2125550123",
    name: str = "Caller",
    prefix: str = "",
) -> dict[str, str]:
    return {
        f"{prefix}Channel": f"PJSIP/trunk-{uid}",
        f"{prefix}ChannelState": "4",
        f"{prefix}CallerIDNum": num,
        f"{prefix}CallerIDName": name,
        f"{prefix}Context": context,
        f"{prefix}Exten": exten,
        f"{prefix}Uniqueid": uid,
        f"{prefix}Linkedid": linked,
    }


def event(name: str, **headers: str) -> str:
    lines = [f"Event: {name}", "Privilege: call,all"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def missed_call(linked: str, num: str = "2125550123", name: str = "Caller") -> list[str]:
    """An inbound call to DID 2000 that rings one desk; the caller hangs up while it rings."""
    root = channel(linked, linked, num=num, name=name)
    leg_id = linked + "1"
    leg = channel(leg_id, linked, context="from-pbx", exten="100", num=num, name=name)
    dest = channel(
        leg_id, linked, context="from-pbx", exten="100", num=num, name=name, prefix="Dest"
    )
    return [
        event("Newchannel", **root),
        event("Newchannel", **leg),
        event("DialBegin", **root, **dest, DialString="100@phones"),
        event("DialEnd", **root, **dest, DialStatus="CANCEL"),
        event("Hangup", **leg, Cause="26"),
        event("Hangup", **root, Cause="16"),
    ]


def answered_call(linked: str, num: str = "2125550123") -> list[str]:
    frames = missed_call(linked, num)
    return [f.replace("DialStatus: CANCEL", "DialStatus: ANSWER") for f in frames]
