"""The run-time stand-ins of callback_desk.core.typeshim behave as typing's own for our classes."""

from __future__ import annotations

import subprocess
import sys
import typing
from typing import Any

import pytest

from callback_desk.core import typeshim


def _point(base: Any) -> Any:
    class Point(base):  # type: ignore[misc]
        """A point."""

        x: int
        y: str = "a"

        def doubled(self) -> int:
            return self.x * 2

        @classmethod
        def of(cls, x: int) -> Point:
            return cls(x)

    return Point


def test_a_named_tuple_is_typings_own_without_typing() -> None:
    for point in (_point(typeshim.NamedTuple), _point(typing.NamedTuple)):
        p: Any = point(3)
        assert issubclass(point, tuple) and p == (3, "a")
        assert p.doubled() == 6 and point.of(4).x == 4
        assert p._replace(y="b") == (3, "b") and p._asdict() == {"x": 3, "y": "a"}
        assert repr(p) == "Point(x=3, y='a')"
        assert point.__doc__ == "A point."
        assert point.__module__ == __name__
        assert point._fields == ("x", "y") and point._field_defaults == {"y": "a"}
        with pytest.raises(AttributeError):
            p.x = 5


def test_a_field_without_default_after_one_with_is_refused_as_by_typing() -> None:
    bases: list[Any] = [typeshim.NamedTuple, typing.NamedTuple]
    for base in bases:
        with pytest.raises(TypeError, match="cannot follow default field"):

            class Bad(base):  # type: ignore[valid-type,misc]
                a: int = 1
                b: int


def test_generic_protocol_and_typevar_stand_ins_define_plain_classes() -> None:
    shim: Any = typeshim  # its run-time branch, which mypy does not read
    t = shim.TypeVar("T")

    class Box(shim.Generic[t]):  # type: ignore[misc]
        pass

    class Shaped(shim.Protocol):  # type: ignore[misc]
        pass

    class Boxed(shim.Protocol[t]):  # type: ignore[misc]
        pass

    generic: Any = Box
    assert generic[int] is Box and Box() is not None and Shaped() is not None
    assert Boxed() is not None


def test_the_module_loads_no_typing() -> None:
    probe = "import sys, callback_desk.core.typeshim; print('typing' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
