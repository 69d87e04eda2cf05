"""The collector's settings for a process that runs for months: the listener and the servers.

What exists once such a process has started (modules, settings, compiled SQL, the pools) is
never garbage, yet CPython's collector re-scans it whenever 700 more objects were made than
freed. The listener makes a few dicts per AMI frame (bursts left that 7 % of its CPU); the
FastAGI server, when 16 desks press ``*47`` at once with 200 menus open, paused whole bursts in
full collections (bench/agi.py, three runs each side in the same minutes, p99 connect → count
at 16 at once 30.8 / 31.7 / 40.9 ms before, 25.4 / 24.6 / 16.6 ms after).
"""

from __future__ import annotations

import gc

# Net allocations between two young collections (CPython's default is 700); the older
# generations keep their default ratios.
YOUNG_THRESHOLD = 10_000


def long_lived() -> None:
    """Move everything alive now out of the collector's sight and collect less often: call once,
    when the process has built what it keeps for its whole life."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
