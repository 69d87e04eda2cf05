"""The sample files an install is made from, wherever Callback Desk was installed from.

``extensions.conf.sample`` and ``manager.conf.sample`` (what the PBX admin pastes), and
``deploy/`` (the config file, the systemd units and timers, the cron file, the nginx site) sit
at the repository's root, where an admin reads them; a wheel carries the same files as package
data, ``callback_desk/samples`` (hatch force-include in pyproject.toml), so that
``callback-desk sample NAME`` prints them on a PBX that has only the wheel. An editable install
(a source checkout) reads the checkout's own files. The same lookup as :mod:`.sqlfiles`.

A sample's name is its file name without ``.sample``: ``manager.conf``, ``callback-desk.toml``,
``callback-desk-listener.service``.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from callback_desk.core.exceptions import ConfigError

# Where each kind of sample lives in a checkout (the root) and in the wheel (samples/).
_PLACES = (".", "deploy")


def _roots() -> list[Traversable]:
    packaged = files("callback_desk").joinpath("samples")
    if packaged.joinpath("deploy").is_dir():
        return [packaged.joinpath(place) if place != "." else packaged for place in _PLACES]
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "deploy").is_dir() and (checkout / "manager.conf.sample").is_file():
        return [checkout / place for place in _PLACES]
    raise ConfigError("the sample files are missing from this install; reinstall Callback Desk")


def _name(file_name: str) -> str:
    return file_name.removesuffix(".sample")


def samples() -> dict[str, Traversable]:
    """Every sample by name, sorted."""
    found = {}
    for root, place in zip(_roots(), _PLACES, strict=True):
        for item in root.iterdir():
            shipped = place == "deploy" or item.name.endswith(".conf.sample")
            if item.is_file() and shipped:
                found[_name(item.name)] = item
    return dict(sorted(found.items()))


def sample_text(name: str) -> str:
    """The text of sample ``name`` (``manager.conf``, ``callback-desk.toml``, ...)."""
    found = samples()
    if name not in found:
        raise ConfigError(f"no sample named {name!r}; there are: {', '.join(found)}")
    return found[name].read_text("utf-8")
