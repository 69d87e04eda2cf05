"""Every configuration key the program reads, with its default, found by running the loaders.

The keys are not listed by hand: each section's loader (``Settings.from_mapping`` for the core
sections, then each feature's own) is run on a minimal configuration while :class:`Section` is
watched, so every key a loader asks for is recorded with the default it would use. A key added
to a loader appears here, and the Configure page's test fails until it is described.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from agi import config as agi_config
from ami_listener.gaps import ReconcileSettings
from callback_desk.core import config
from callback_desk.core.config import KNOWN_SECTIONS, Secret, Section, Settings, env_name
from callback_desk.report.settings import report_settings, smtp_settings
from callback_desk.web import settings as web_settings

# A configuration with only what is required, so that every other key takes its default.
MINIMAL: dict[str, Any] = {"database": {"dsn": "postgresql://reference@127.0.0.1/reference"}}
_MISSING = config._MISSING

# Every feature's loader of its own section(s). A section in KNOWN_SECTIONS that none of these
# reads fails tests/unit/test_docs.py: add its loader here.
FEATURE_LOADERS: tuple[Callable[[Settings], object], ...] = (
    agi_config.load,
    report_settings,
    smtp_settings,
    web_settings.load,
    ReconcileSettings.from_settings,
)


@dataclass(frozen=True, slots=True)
class Key:
    section: str
    key: str
    kind: str  # "string", "int >= 1", "list of strings", "table", ...
    default: Any  # _MISSING: required; the value the loader uses when the key is absent
    secret: bool

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def environment(self) -> str:
        """The environment variable that overrides it ("" for nested tables: file only)."""
        return "" if self.kind == "table" else env_name(self.section, self.key)


@contextlib.contextmanager
def _watched(found: dict[tuple[str, str], Key]) -> Iterator[None]:
    get, table, secret = Section._get, Section.table, Section.secret
    secrets: set[tuple[str, str]] = set()

    def watch_get(self: Section, key: str, kind: str, default: Any, cast: Any) -> Any:
        found.setdefault(
            (self.name, key),
            Key(self.name, key, kind, default, (self.name, key) in secrets),
        )
        return get(self, key, kind, default, cast)

    def watch_table(self: Section, key: str) -> Any:
        found.setdefault((self.name, key), Key(self.name, key, "table", {}, False))
        return table(self, key)

    def watch_secret(self: Section, key: str, default: Any = _MISSING) -> Secret:
        secrets.add((self.name, key))
        return secret(self, key, default)

    Section._get = watch_get  # type: ignore[method-assign]
    Section.table = watch_table  # type: ignore[method-assign]
    Section.secret = watch_secret  # type: ignore[method-assign]
    try:
        yield
    finally:
        Section._get = get  # type: ignore[method-assign]
        Section.table = table  # type: ignore[method-assign]
        Section.secret = secret  # type: ignore[method-assign]


def keys() -> list[Key]:
    """Every key of every section, in the order the loaders read them."""
    found: dict[tuple[str, str], Key] = {}
    with _watched(found):
        settings = Settings.from_mapping(MINIMAL, environ={})
        for loader in FEATURE_LOADERS:
            loader(settings)
    order = {name: n for n, name in enumerate(KNOWN_SECTIONS)}
    return sorted(found.values(), key=lambda k: order.get(k.section, len(order)))
