"""Stand-ins for modules a short-lived process imports but does not use before its first answer.

``import x`` inside a library binds the module object, and the library reads its attributes
only when it uses it. A stand-in placed in :data:`sys.modules` for the duration of that import
is bound instead: the real module is imported when the first attribute is read, which for the
classic AGI (``python -m agi``, a process per ``*47``) is after the desk heard the caller count,
or never. Examples: pyst2 imports :mod:`pprint` for debug output we never write (it loads
:mod:`dataclasses` and :mod:`inspect`) and :mod:`signal` for a handler we do not let it
install; :mod:`urllib.parse` imports :mod:`ipaddress` for ``[...]`` host literals;
:mod:`pathlib` imports :mod:`ntpath` and :mod:`fnmatch` for Windows paths and globbing.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class OnFirstUse(types.ModuleType):
    """Stands in for a module during one import; its attributes are the real module's, which is
    imported when the first one is read."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            # The import system's own questions (``__path__`` for ``from six import PY3``):
            # a stand-in is a plain module that has no such attribute.
            raise AttributeError(name)
        import importlib

        real = importlib.import_module(self.__name__)
        if real is self:
            raise ImportError(f"{self.__name__} was used while it was standing in")
        return getattr(real, name)


@contextmanager
def standing_in(*names: str) -> Iterator[dict[str, OnFirstUse]]:
    """Within the block, an ``import`` of one of ``names`` not loaded yet binds a stand-in;
    after it, the next import of the name loads the real module. Yields the stand-ins made
    (a name already loaded has none)."""
    stand_ins: dict[str, OnFirstUse] = {}
    for name in names:
        if name not in sys.modules:
            stand_ins[name] = sys.modules[name] = OnFirstUse(name)
    try:
        yield stand_ins
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def datetime_from_c() -> None:
    """Make :mod:`datetime` the C implementation it ends as, without running its Python twin.

    The datetime module's Python source defines every class in Python, then replaces them all
    with ``_datetime``'s (``from _datetime import *``) and deletes its own helpers: ~5 million
    instructions for a module whose every public name ends as ``_datetime``'s, ~2 ms of the
    classic AGI's start.
    This builds the same module from ``_datetime`` (its names, plus the ``__all__`` and ``sys``
    the Python source keeps); nothing when datetime is loaded already, or has no C implementation.
    """
    if "datetime" in sys.modules:
        return
    try:
        import _datetime  # type: ignore[import-not-found]  # typeshed has no stub for it
    except ImportError:
        return
    module = types.ModuleType("datetime", _datetime.__doc__)
    module.__dict__.update((k, v) for k, v in vars(_datetime).items() if not k.startswith("__"))
    module.__dict__.update(__all__=_DATETIME_ALL, sys=sys)
    sys.modules["datetime"] = module


# the __all__ of the datetime module's Python source
_DATETIME_ALL = (
    "date",
    "datetime",
    "time",
    "timedelta",
    "timezone",
    "tzinfo",
    "MINYEAR",
    "MAXYEAR",
    "UTC",
)
