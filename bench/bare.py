"""panoramisk's bare dispatch, the yardstick: ``python -m bench.bare PORT EVENTS``.

A panoramisk Manager whose only callback counts events: the cost of panoramisk reading,
framing, parsing and dispatching the stream, and nothing else. It runs in its own process, as
the listener does, logs in to the generator's fake AMI, prints ``ready``, and prints the
wall-clock moment it counted ``EVENTS`` events (FullyBooted, sent at login, not counted).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from panoramisk import Manager


async def main(port: int, events: int) -> int:
    seen = 0
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def count(_manager: Any, message: Any) -> None:
        nonlocal seen
        if message.event == "FullyBooted":
            return
        seen += 1
        if seen == events:
            done.set()

    logged_in = asyncio.Event()
    manager = Manager(
        loop=loop,
        host="127.0.0.1",
        port=port,
        username="callbackdesk",
        secret="s3cret",
        ping_delay=10**9,
        ping_interval=10**9,
        on_login=lambda _m: logged_in.set(),
    )
    manager.register_event("*", count)
    manager.connect()
    async with asyncio.timeout(30):
        await logged_in.wait()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await done.wait()
    sys.stdout.write(json.dumps({"t1": time.time(), "events": seen}) + "\n")
    sys.stdout.flush()
    manager.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]))))
