"""callback_desk.core.heap: what a long-lived process tells the collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from callback_desk.core import heap


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_what_lives_now_is_frozen_and_young_collections_are_rarer(restored: None) -> None:
    kept = [["a settings table"]]  # a list: the collector tracks it
    gc.unfreeze()
    assert any(o is kept[0] for o in gc.get_objects())
    heap.long_lived()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    # Alive at the call: out of every generation the collector scans.
    assert not any(o is kept[0] for o in gc.get_objects())
