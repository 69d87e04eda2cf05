"""The exceptions Callback Desk raises on purpose.

    CallbackDeskError
     ├── ConfigError          a setting is missing or malformed (names the key); exit 2
     ├── StoreError           PostgreSQL said no
     │    ├── StoreUnavailable    cannot reach the database right now (retry later)
     │    └── SchemaError         the schema is missing, too old or newer than this code
     ├── AmiError             the PBX's manager interface said no
     │    └── AmiUnavailable      cannot reach or log in to AMI right now
     └── CallbackError        a callback cannot be placed (unknown id, not callable, phone busy...)

Each class docstring is its default message. Library exceptions are wrapped where they enter
(``raise StoreUnavailable(...) from exc``) so callers handle our tree only.
"""

from __future__ import annotations


class CallbackDeskError(Exception):
    """Callback Desk failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(CallbackDeskError):
    """The configuration is invalid."""


class StoreError(CallbackDeskError):
    """The database refused the operation."""


class StoreUnavailable(StoreError):
    """The database cannot be reached."""


class SchemaError(StoreError):
    """The database schema does not match this version of Callback Desk."""


class AmiError(CallbackDeskError):
    """The PBX manager interface (AMI) refused the operation."""


class AmiUnavailable(AmiError):
    """The PBX manager interface (AMI) cannot be reached."""


class CallbackError(CallbackDeskError):
    """The callback cannot be placed."""
