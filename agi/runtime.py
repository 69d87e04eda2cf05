"""Wiring shared by both entry points: settings -> store -> callbacks, and shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from agi.config import AgiSettings
from agi.queries import Callbacks
from agi.session import UnavailableCallbacks
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import StoreError
from callback_desk.core.store import Store

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_callbacks(
    settings: Settings, cfg: AgiSettings, max_size: int
) -> AsyncIterator[Callbacks]:
    """A Callbacks over a small pool; a stand-in that raises when the database is down."""
    database = replace(settings.database, connect_timeout=cfg.db_timeout)
    try:
        store = await Store.open(database, max_size=max_size)
    except StoreError as exc:
        logger.error("Database unavailable: %s", exc)
        yield UnavailableCallbacks(exc)
        return
    try:
        yield Callbacks(store.pool)
    finally:
        await store.close()
