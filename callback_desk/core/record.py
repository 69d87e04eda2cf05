"""Frozen records for the settings, without the :mod:`dataclasses` module.

Asterisk starts a classic AGI process per ``*47``, and the desk hears nothing until it has said
how many callers wait; that process reads the settings first. Importing :mod:`dataclasses` (with
the :mod:`inspect`, :mod:`ast` and :mod:`dis` it loads) was ~9 ms of that wait, and each
dataclass ~0.7 ms more, as its methods are compiled from source when the class is made
(``python -X importtime -m agi``). A :func:`record` has the same shape for its reader and for
mypy (``typing.dataclass_transform``): typed keyword construction with defaults, frozen
attributes, equality, a repr. Its methods are these few shared functions, which read the class's
field list: nothing to compile, so a record is cheap to define and a little slower to build.

So records are for objects built a few times per process (the ``[section]`` settings on the
classic AGI's path); values built per call (:class:`callback_desk.core.model.CallRecord`) stay
dataclasses. Only a class's own annotations are fields (no inheritance), and
:func:`replace` stands for :func:`dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Callable

from callback_desk.core.typeshim import TYPE_CHECKING, TypeVar, dataclass_transform

if TYPE_CHECKING:
    from typing import Any, overload

T = TypeVar("T")
_MISSING: Any = object()


class FrozenRecordError(AttributeError):
    """A record's fields cannot be assigned or deleted (dataclasses' FrozenInstanceError)."""


class Field:
    """What :func:`field` returns, read once by :func:`record` when the class is made."""

    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(
        self, default: Any, default_factory: Callable[[], Any] | None, repr: bool, compare: bool
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.compare = compare


if TYPE_CHECKING:  # the signatures mypy reads; at run time only the function below exists

    @overload
    def field(*, default: T, repr: bool = True, compare: bool = True) -> T: ...
    @overload
    def field(
        *, default_factory: Callable[[], T], repr: bool = True, compare: bool = True
    ) -> T: ...
    @overload
    def field(*, repr: bool = True, compare: bool = True) -> Any: ...


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    """A field's default (a value, or a function making a fresh one) and whether it shows in
    the repr and counts for equality, as :func:`dataclasses.field`."""
    if default is not _MISSING and default_factory is not None:
        raise ValueError("a field cannot have both a default and a default_factory")
    return Field(default, default_factory, repr, compare)


class _Spec:
    """A record class's fields, in order: what the shared methods read."""

    __slots__ = ("compared", "defaults", "factories", "names", "shown")

    def __init__(self, cls: type) -> None:
        self.names: tuple[str, ...] = ()
        self.defaults: dict[str, Any] = {}
        self.factories: dict[str, Callable[[], Any]] = {}
        shown, compared = [], []
        # Not inspect.get_annotations: inspect is what this module spares the start-up.
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        for name, annotation in own.items():
            if "ClassVar" in str(annotation):
                continue
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, Field):
                if value.default_factory is not None:
                    self.factories[name] = value.default_factory
                    delattr(cls, name)
                elif value.default is not _MISSING:
                    self.defaults[name] = value.default
                    setattr(cls, name, value.default)
                else:
                    delattr(cls, name)
                if value.repr:
                    shown.append(name)
                if value.compare:
                    compared.append(name)
            else:
                if value is not _MISSING:
                    if isinstance(value, list | dict | set):
                        raise ValueError(f"mutable default for field {name}: use default_factory")
                    self.defaults[name] = value
                shown.append(name)
                compared.append(name)
            if name not in self.defaults and name not in self.factories and self.names:
                last = self.names[-1]
                if last in self.defaults or last in self.factories:
                    raise TypeError(f"non-default field {name!r} follows a default field")
            self.names += (name,)
        self.shown = tuple(shown)
        self.compared = tuple(compared)


def _spec(self: object) -> _Spec:
    spec: _Spec = type(self).__record__  # type: ignore[attr-defined]
    return spec


def _init(self: object, *args: Any, **kwargs: Any) -> None:
    spec = _spec(self)
    cls = type(self).__qualname__
    if len(args) > len(spec.names):
        raise TypeError(f"{cls}() takes {len(spec.names)} positional arguments, {len(args)} given")
    given = dict(zip(spec.names, args, strict=False))
    for name, value in kwargs.items():
        if name in given:
            raise TypeError(f"{cls}() got multiple values for argument {name!r}")
        if name not in spec.names:
            raise TypeError(f"{cls}() got an unexpected keyword argument {name!r}")
        given[name] = value
    for name in spec.names:
        if name in given:
            value = given[name]
        elif name in spec.defaults:
            value = spec.defaults[name]
        elif name in spec.factories:
            value = spec.factories[name]()
        else:
            raise TypeError(f"{cls}() missing required argument {name!r}")
        object.__setattr__(self, name, value)


def _repr(self: object) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _spec(self).shown)
    return f"{type(self).__qualname__}({shown})"


def _key(self: object) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in _spec(self).compared)


def _eq(self: object, other: object) -> object:  # NotImplemented, or a bool
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: object) -> int:
    return hash(_key(self))


def _setattr(self: object, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen record of its annotated attributes (see the module docstring)."""
    setattr(cls, "__record__", _Spec(cls))  # noqa: B010 - a name mypy does not know, on purpose
    for name, method in (
        ("__init__", _init),
        ("__repr__", _repr),
        ("__eq__", _eq),
        ("__hash__", _hash),
        ("__setattr__", _setattr),
        ("__delattr__", _delattr),
    ):
        setattr(cls, name, method)
    return cls


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of record ``obj`` with ``changes``, as :func:`dataclasses.replace`."""
    spec = _spec(obj)
    values = {name: getattr(obj, name) for name in spec.names}
    for name in changes:
        if name not in values:
            raise TypeError(f"{type(obj).__qualname__} has no field {name!r}")
    return type(obj)(**{**values, **changes})
