"""Re-record the AMI trace fixtures in ``tests/data/`` from the running lab.

    sudo tests/lab/labctl up      # fresh instances: empty mailbox, channel numbers from 0
    .venv/bin/python -m tests.lab.record_traces [SCENARIO ...] [--out tests/data]

The shared lab is used by every test run on the machine, and a foreign call during a
recording ends up in the trace (a capture sees the whole PBX). The fixtures were therefore
recorded in a private lab - own network, PID and mount namespaces, so its three instances
use the same addresses and root without touching the shared ones::

    sudo unshare --mount --net --pid --fork --mount-proc sh -ec '
        ip link set lo up
        mount -t tmpfs lab-opt /var/cache/callback-desk/lab-root/opt  # private state
        tests/lab/labctl up
        .venv/bin/python -m tests.lab.record_traces
        tests/lab/labctl down'

Each scenario gets its own AMI connection to the PBX as ``callbackdesk`` (the product's
account and read classes), started while the lab is idle and stopped once every call of
the scenario has ended on all three instances, a CEL ``LINKEDID_END`` arrived for every
Linkedid seen, and the PBX has then been quiet for a second (late ``Cdr``/``MessageWaiting``).
The expected outcome of each trace is documented in ``tests/data/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from tests.lab.capture import Capture
from tests.lab.lab import (
    DID_DIRECT,
    DID_IVR,
    DID_QUEUE,
    DID_RINGGROUP,
    PRODUCT_USER,
    Lab,
    LabError,
)

HOSTILE_NAME: Final = 'Bob "The Builder", Jr & Co\nÄrger 日本'

Scenario = Callable[[Lab], Awaitable[None]]


async def direct_answered(lab: Lab) -> None:
    await lab.set_behaviour("phones", "100", "answer:3")
    await lab.inbound_call(DID_DIRECT, "+15550100001", "Alice Answered", then="talk")


async def direct_hangup_ringing(lab: Lab) -> None:
    await lab.inbound_call(DID_DIRECT, "+15550100002", "Rita Ringing", ring_timeout_ms=3000)


async def direct_greeting_hangup(lab: Lab) -> None:
    await lab.inbound_call(DID_DIRECT, "+15550100003", "Greta Greeting", then="greeting")


async def direct_voicemail_left(lab: Lab) -> None:
    await lab.inbound_call(DID_DIRECT, "+15550100004", "Vera Voicemail", then="message")


async def ringgroup_one_answers(lab: Lab) -> None:
    await lab.set_behaviour("phones", "101", "answer:3")
    await lab.inbound_call(DID_RINGGROUP, "+15550100005", "Gary Group", then="talk")


async def ringgroup_nobody(lab: Lab) -> None:
    await lab.inbound_call(DID_RINGGROUP, "+15550100006", "Nora Nobody", then="talk")


async def queue_abandon(lab: Lab) -> None:
    await lab.inbound_call(
        DID_QUEUE, "+15550100007", "Quinn Queue", then="talk", ring_timeout_ms=12000
    )


async def ivr_hangup(lab: Lab) -> None:
    await lab.inbound_call(DID_IVR, "+15550100008", "Ivy Menu", then="talk", variables={"HOLD": 5})


async def internal_call(lab: Lab) -> None:
    await lab.set_behaviour("phones", "101", "answer:3")
    await lab.desk_call("100", "101", then="talk")


async def outbound_answered(lab: Lab) -> None:
    await lab.set_behaviour("carrier", "+15557654321", "answer:3")
    await lab.desk_call("100", "+15557654321", then="talk")


async def anonymous(lab: Lab) -> None:
    await lab.inbound_call(
        DID_DIRECT, "+15550100011", "Hidden Caller", ring_timeout_ms=3000, withheld=True
    )


async def hostile_callerid(lab: Lab) -> None:
    await lab.inbound_call(DID_DIRECT, "+15550100012", HOSTILE_NAME, ring_timeout_ms=3000)


SCENARIOS: Final[dict[str, Scenario]] = {
    f.__name__: f
    for f in (
        direct_answered,
        direct_hangup_ringing,
        direct_greeting_hangup,
        direct_voicemail_left,
        ringgroup_one_answers,
        ringgroup_nobody,
        queue_abandon,
        ivr_hangup,
        internal_call,
        outbound_answered,
        anonymous,
        hostile_callerid,
    )
}


def _all_linkedids_ended(frames: list[dict[str, str]]) -> bool:
    linked = {f["Linkedid"] for f in frames if f.get("Event") == "Newchannel" and "Linkedid" in f}
    ended = {
        f.get("LinkedID", "")
        for f in frames
        if f.get("Event") == "CEL" and f.get("EventName") == "LINKEDID_END"
    }
    return bool(linked) and linked <= ended


async def _quiet(capture: Capture, seconds: float, timeout: float) -> None:
    """Poll until no byte has arrived for ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    size, since = len(capture.data), loop.time()
    while loop.time() - since < seconds:
        if loop.time() >= deadline:
            raise LabError("the PBX AMI did not go quiet")
        await asyncio.sleep(0.1)
        if len(capture.data) != size:
            size, since = len(capture.data), loop.time()


async def record(lab: Lab, name: str, out: Path) -> Path:
    path = out / f"{name}.ami"
    await lab.wait_idle(timeout=60)
    await lab.reset_behaviours()
    lab.clear_events()
    async with Capture(path, PRODUCT_USER["username"], PRODUCT_USER["secret"]) as capture:
        await SCENARIOS[name](lab)
        await lab.wait_idle(timeout=90)
        await capture.wait_until(_all_linkedids_ended, 15, "CEL LINKEDID_END of every call")
        await _quiet(capture, 1.0, 15)
    return path


async def _main(names: list[str], out: Path) -> int:
    lab = await Lab.connect()
    try:
        for name in names:
            path = await record(lab, name, out)
            sys.stderr.write(f"{path}: {path.stat().st_size} bytes\n")
    finally:
        await lab.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record the lab's AMI trace fixtures.")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "data")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return asyncio.run(_main(args.scenarios or list(SCENARIOS), args.out))


if __name__ == "__main__":
    sys.exit(main())
