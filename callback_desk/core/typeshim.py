"""The few :mod:`typing` constructs that act when a module is imported, without :mod:`typing`.

The classic AGI is a process per ``*47`` and the desk hears nothing before its caller count
(agi/classic.py). Importing :mod:`typing` was ~5 ms of that wait on the bench's host, and each
``typing.NamedTuple`` field ~0.06 ms more: with ``from __future__ import annotations`` every
annotation is a string, which typing compiles into a ``ForwardRef`` when the class is made
(``python -X importtime -m agi``). So the modules on that path take :data:`TYPE_CHECKING`,
:class:`NamedTuple`, :class:`Generic`, :class:`Protocol`, :func:`TypeVar` and
:func:`dataclass_transform` from here, and what only annotations name (``Any``, ``IO``, ...)
from typing under ``if TYPE_CHECKING:``. mypy reads typing's own (the first branch below, which
it takes as true whatever module ``TYPE_CHECKING`` comes from); at run time these stand-ins do
what the real ones do for our classes. tests/db/test_agi_menu.py fails if typing is loaded
again before the caller count.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Generic as Generic
    from typing import NamedTuple as NamedTuple
    from typing import Protocol as Protocol
    from typing import TypeVar as TypeVar
    from typing import dataclass_transform as dataclass_transform
else:
    from collections import namedtuple

    # What a class body holds that is not for the tuple class (typing.NamedTuple's _special).
    _NOT_COPIED = frozenset({"__module__", "__qualname__", "__annotations__"})

    class _NamedTupleMeta(type):
        """``class Point(NamedTuple): x: int; y: int = 0`` makes
        ``collections.namedtuple("Point", ["x", "y"], defaults=[0])`` with the body's methods
        and docstring, as typing's NamedTuple, without evaluating the annotations."""

        def __new__(mcls, name, bases, namespace):
            if namespace.get("_is_root"):
                return super().__new__(mcls, name, bases, namespace)
            fields = list(namespace.get("__annotations__", {}))
            defaults = []
            for field in fields:
                if field in namespace:
                    defaults.append(namespace[field])
                elif defaults:
                    raise TypeError(
                        f"Non-default namedtuple field {field} cannot follow default field"
                    )
            cls = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
            cls.__qualname__ = namespace.get("__qualname__", name)
            for key, value in namespace.items():
                if key not in _NOT_COPIED and key not in fields:
                    setattr(cls, key, value)
            cls.__annotations__ = dict(namespace.get("__annotations__", {}))
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        _is_root = True

    class Generic:
        """``class Box(Generic[T])``: the subscript is for mypy only."""

        def __class_getitem__(cls, _params):
            return cls

    class Protocol:
        """For mypy: at run time a protocol is a plain class nobody instantiates or checks
        (``Protocol[T_co]`` included)."""

        def __class_getitem__(cls, _params):
            return cls

    def TypeVar(name, *_constraints, **_options):
        return name

    def dataclass_transform(**_options):
        return lambda decorator: decorator
