"""Settings for tests and benchmarks, built from a mapping (no file, no environment)."""

from __future__ import annotations

from typing import Any

from callback_desk.core.config import Settings


def make_settings(dsn: str = "postgresql://unused/", **sections: dict[str, Any]) -> Settings:
    base: dict[str, Any] = {"database": {"dsn": dsn}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Settings.from_mapping(base, environ={})
