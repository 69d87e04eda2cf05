"""callback_desk.core.record: the settings' frozen records behave as frozen dataclasses did."""

from __future__ import annotations

import pytest

from agi.config import AgiSettings
from callback_desk.core import record
from callback_desk.core.config import DatabaseSettings, PbxSettings, Secret, Settings
from fakes.settings import make_settings


def test_a_record_is_built_by_keyword_or_position_with_its_defaults() -> None:
    assert DatabaseSettings(Secret("a")) == DatabaseSettings(dsn=Secret("a"), connect_timeout=10.0)
    assert DatabaseSettings(Secret("a"), 3.0).connect_timeout == 3.0
    assert DatabaseSettings.connect_timeout == 10.0  # a default stays readable on the class
    with pytest.raises(TypeError, match="dsn"):
        DatabaseSettings()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        DatabaseSettings(Secret("a"), colour=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="dsn"):
        DatabaseSettings(Secret("a"), dsn=Secret("b"))  # type: ignore[misc]


def test_a_record_is_frozen_and_compared_by_value() -> None:
    db = DatabaseSettings(Secret("a"))
    with pytest.raises(AttributeError, match="dsn"):
        db.dsn = Secret("b")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del db.dsn
    assert db != DatabaseSettings(Secret("b"))
    assert db != ("a", 10.0)  # type: ignore[comparison-overlap]
    assert hash(db) == hash(DatabaseSettings(Secret("a")))


def test_each_record_gets_its_own_default_from_a_factory() -> None:
    one, two = AgiSettings(), AgiSettings()
    assert one.sounds == two.sounds and one.sounds is not two.sounds
    assert str(PbxSettings().timezone) == "UTC"


def test_the_repr_names_the_fields_and_leaves_out_the_hidden_ones() -> None:
    settings = make_settings("postgresql://u:hunter2@db/x")
    shown = repr(settings)
    assert shown.startswith("Settings(database=DatabaseSettings(dsn=Secret('**********')")
    assert "hunter2" not in shown and "_environ" not in shown and "_sections" not in shown


def test_replace_makes_a_changed_copy() -> None:
    settings = make_settings()
    db = record.replace(settings.database, connect_timeout=1.5)
    assert db.connect_timeout == 1.5 and db.dsn == settings.database.dsn
    assert settings.database.connect_timeout == 10.0
    with pytest.raises(TypeError, match="colour"):
        record.replace(settings.database, colour=1)


def test_a_mutable_default_or_a_required_field_after_a_default_is_refused() -> None:
    with pytest.raises(ValueError, match="default_factory"):

        @record.record
        class Mutable:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="follows a default"):

        @record.record
        class Misordered:
            a: int = 1
            b: int  # type: ignore[misc]


def test_settings_compare_equal_when_read_alike() -> None:
    assert make_settings() == make_settings()
    assert isinstance(make_settings(), Settings)
