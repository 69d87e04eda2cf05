"""The ``[agi]`` section: feature code, neutral caller ID, dial path, allow-list and scopes.

Parsed with :class:`callback_desk.core.config.Section`, so errors name the key and every key can be
overridden from the environment (``CALLBACK_DESK_AGI_<KEY>``). Nested tables (``[agi.extensions]``,
``[agi.names]``) come from the file only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from agi.login import DB_TIMEOUT, DB_TIMEOUT_MIN
from agi.prompts import DEFAULTS
from callback_desk.core.config import (
    AwaitingSettings,
    Secret,
    Settings,
    ami_credential,
    private_secret,
)
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.opening import opening_line
from callback_desk.core.phone import supported_regions
from callback_desk.core.record import field, record
from callback_desk.core.scope import ALL_LINES
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Literal

    DialMode = Literal["freepbx", "template"]
    NumberFormat = Literal["e164", "national"]

# The checks below are character sets and lengths (:func:`_only`), not regexes: compiling this
# module's ten was ~1 ms of every classic AGI start, which loads these settings.
_DIGITS = "0123456789"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + _DIGITS
# What the neutral name may contain: no quotes, commas, angle brackets or control characters,
# so that it can sit inside '"name" <number>' and a Dial() argument without escaping.
_NEUTRAL_NAME = _ALNUM + " .'-"
_CONTEXT = _ALNUM + "_-"
# Never in a dial template or desk channel, besides whitespace (Dial() and Originate arguments).
_TEMPLATE_FORBIDDEN = ",&|$\"'()\\;"
# What a first name ([agi.names]) may not contain: it sits in the opening line's quotes.
_NAME_FORBIDDEN = '\x7f"<>,'


def _only(text: str, allowed: str, least: int, most: int) -> bool:
    """``text`` has ``least`` to ``most`` characters, each one of ``allowed``: the regex
    ``[allowed]{least,most}``, fully matched."""
    return least <= len(text) <= most and not text.strip(allowed)


@record
class AgiSettings:
    """The ``[agi]`` section: the desk side's menu, dialing and prompts."""

    # The desk phone's feature code. The dialplan owns the real one (extensions.conf.sample);
    # the AGI only names it in its log line so an admin can match the two.
    feature_code: str = "*47"
    # The neutral number and name the callee sees. Without a number the AGI refuses to dial.
    callback_number: str = ""
    callback_name: str = ""
    withhold: bool = False
    dial_mode: DialMode = "freepbx"
    dial_template: str = ""
    freepbx_context: str = "from-internal"
    number_format: NumberFormat = "national"
    # The PBX's own country ([pbx] country): national digits are dialled only for its numbers.
    country: str = "US"
    dial_timeout: int = 45
    # Allow-list: regions (ISO 3166) and, optionally, a regex over the E.164 form.
    allow_regions: tuple[str, ...] = ("US",)
    allow: re.Pattern[str] | None = None
    min_length: int = 8
    max_length: int = 15
    # Menu. The look-back is [awaiting] lookback_days (callback_desk.core.awaiting), not an
    # [agi] key: the menu, the report and the inbox share one definition of who is waiting.
    lookback_days: int = AwaitingSettings.lookback_days
    digit_timeout: float = 6.0
    retries: int = 3
    db_timeout: float = DB_TIMEOUT
    # Click-to-call
    originate_context: str = "callback-desk-dial"
    desk_channel: str = "PJSIP/{extension}"
    desk_ring_seconds: int = 30
    ami_username: str = ""
    ami_secret: Secret | None = None
    # FastAGI server
    listen_host: str = "127.0.0.1"
    listen_port: int = 4573
    # Sessions at once. A session waiting for a key costs a coroutine and a socket, not a
    # thread, so the default covers every desk of an office pressing *47 together; the pool
    # still opens at most 8 database connections.
    max_sessions: int = 256
    # FastAGI peer authentication: the file holding the per-install secret the dialplan puts
    # in the AGI URL (agi://127.0.0.1:4573/<secret>); read by `agi serve` only (read_secret).
    secret_file: Path | None = None
    # Seconds a connection may take to send its AGI environment, and to answer one command
    # (EXEC Dial gets dial_timeout + CALL_LIMIT instead: the call itself).
    env_timeout: float = 5.0
    reply_timeout: float = 60.0
    # Connections not yet in a session (sending their environment, or queued for a slot).
    # The whole office's connections arrive together, and each is unauthenticated until the
    # loop has read it: a bound below the office's size shed real desks, not a flood.
    max_waiting: int = 256
    # Optional second check: the local user whose processes may connect (e.g. "asterisk"),
    # read from the kernel's socket table (/proc/net/tcp*); "" = any user with the secret.
    peer_user: str = ""
    # extension -> DIDs/extensions it hears ("*" = every line). Empty table: everyone hears all.
    extensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # extension -> the therapist's first name, for the neutral opening line.
    names: Mapping[str, str] = field(default_factory=dict)
    # menu step -> sound files (agi/prompts.py), for the practice's own recordings.
    sounds: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULTS))

    def scope(self, extension: str) -> tuple[str, ...]:
        """The lines an extension hears: ``("*",)`` for all, ``()`` for none."""
        if not self.extensions:
            return (ALL_LINES,)
        return self.extensions.get(extension, ())

    def opening_line(self, extension: str) -> str:
        return opening_line(self.names.get(extension, ""))


def load(settings: Settings) -> AgiSettings:
    """Read ``[agi]`` from the loaded settings; raises :class:`ConfigError` naming the key."""
    s = settings.section("agi")
    feature_code = s.text("feature_code", AgiSettings.feature_code)
    callback_number = s.text("callback_number", AgiSettings.callback_number).strip()
    callback_name = s.text("callback_name", AgiSettings.callback_name)
    withhold = s.flag("withhold", AgiSettings.withhold)
    dial_mode = s.text("dial_mode", AgiSettings.dial_mode)
    dial_template = s.text("dial_template", AgiSettings.dial_template)
    freepbx_context = s.text("freepbx_context", AgiSettings.freepbx_context)
    number_format = s.text("number_format", AgiSettings.number_format)
    dial_timeout = s.integer("dial_timeout", AgiSettings.dial_timeout, minimum=5)
    allow_regions = tuple(r.upper() for r in s.strings("allow_regions", (settings.pbx.country,)))
    allow_text = s.text("allow", "")
    min_length = s.integer("min_length", AgiSettings.min_length, minimum=3)
    max_length = s.integer("max_length", AgiSettings.max_length, minimum=3)
    digit_timeout = s.number("digit_timeout", AgiSettings.digit_timeout, minimum=1.0)
    retries = s.integer("retries", AgiSettings.retries, minimum=1)
    db_timeout = s.number("db_timeout", AgiSettings.db_timeout, minimum=DB_TIMEOUT_MIN)
    originate_context = s.text("originate_context", AgiSettings.originate_context)
    desk_channel = s.text("desk_channel", AgiSettings.desk_channel)
    desk_ring_seconds = s.integer("desk_ring_seconds", AgiSettings.desk_ring_seconds, minimum=5)
    # The listener's [ami] check: no CR/LF (Login header injection), nothing unencodable.
    ami_username = ami_credential(
        "ami_username", s.text("ami_username", AgiSettings.ami_username), "agi"
    )
    ami_secret = s.inline_secret("ami_secret")
    if ami_secret:
        ami_credential("ami_secret", ami_secret.reveal(), "agi")
    listen_host = s.text("listen_host", AgiSettings.listen_host)
    listen_port = s.integer("listen_port", AgiSettings.listen_port, minimum=1)
    max_sessions = s.integer("max_sessions", AgiSettings.max_sessions, minimum=1)
    secret_file = s.text("secret_file", "")
    env_timeout = s.number("env_timeout", AgiSettings.env_timeout, minimum=0.1)
    reply_timeout = s.number("reply_timeout", AgiSettings.reply_timeout, minimum=1.0)
    max_waiting = s.integer("max_waiting", AgiSettings.max_waiting, minimum=1)
    peer_user = s.text("peer_user", AgiSettings.peer_user)
    extensions = _extensions(s.table("extensions"))
    names = _names(s.table("names"))
    sounds = _sounds(s.table("sounds"))
    s.finish()

    if not _only(feature_code, "*#" + _DIGITS, 1, 10):
        raise ConfigError(f"[agi] feature_code = {feature_code!r} must be digits, * or #")
    if callback_number and not _only(callback_number.removeprefix("+"), _DIGITS, 3, 15):
        raise ConfigError(
            f"[agi] callback_number = {callback_number!r} must be digits with an optional "
            "leading + (a number the practice owns)"
        )
    if not _only(callback_name, _NEUTRAL_NAME, 0, 40):
        raise ConfigError(
            "[agi] callback_name may hold only letters, digits, spaces and . ' - "
            "(at most 40 characters)"
        )
    if dial_mode not in ("freepbx", "template"):
        raise ConfigError(f"[agi] dial_mode = {dial_mode!r} must be 'freepbx' or 'template'")
    if dial_mode == "template":
        _check_template("dial_template", dial_template, "{number}")
    if not _only(freepbx_context, _CONTEXT, 1, 79):
        raise ConfigError(f"[agi] freepbx_context = {freepbx_context!r} is not a context name")
    if number_format not in ("e164", "national"):
        raise ConfigError(f"[agi] number_format = {number_format!r} must be 'e164' or 'national'")
    for region in allow_regions:
        if region not in supported_regions():
            raise ConfigError(f"[agi] allow_regions: {region!r} is not an ISO 3166 region code")
    try:
        allow = re.compile(allow_text) if allow_text else None
    except re.error as exc:
        raise ConfigError(f"[agi] allow = {allow_text!r} is not a valid regex: {exc}") from exc
    if min_length > max_length or max_length > 20:
        raise ConfigError("[agi] min_length must be <= max_length <= 20")
    if not _only(originate_context, _CONTEXT, 1, 79):
        raise ConfigError(f"[agi] originate_context = {originate_context!r} is not a context name")
    _check_template("desk_channel", desk_channel, "{extension}")
    if listen_port > 65535:
        raise ConfigError(f"[agi] listen_port = {listen_port} is not a valid TCP port")
    return AgiSettings(
        feature_code=feature_code,
        callback_number=callback_number,
        callback_name=callback_name,
        withhold=withhold,
        dial_mode=dial_mode,  # type: ignore[arg-type]
        dial_template=dial_template,
        freepbx_context=freepbx_context,
        number_format=number_format,  # type: ignore[arg-type]
        country=settings.pbx.country,
        dial_timeout=dial_timeout,
        allow_regions=allow_regions,
        allow=allow,
        min_length=min_length,
        max_length=max_length,
        lookback_days=settings.awaiting.lookback_days,
        digit_timeout=digit_timeout,
        retries=retries,
        db_timeout=db_timeout,
        originate_context=originate_context,
        desk_channel=desk_channel,
        desk_ring_seconds=desk_ring_seconds,
        ami_username=ami_username,
        ami_secret=ami_secret if ami_secret else None,
        listen_host=listen_host,
        listen_port=listen_port,
        max_sessions=max_sessions,
        secret_file=Path(secret_file) if secret_file else None,
        env_timeout=env_timeout,
        reply_timeout=reply_timeout,
        max_waiting=max_waiting,
        peer_user=peer_user,
        extensions=extensions,
        names=names,
        sounds=sounds,
    )


# Lower-case hex: the dialplan keeps only 0-9a-f of the file (FILTER strips the newline).
_SECRET = _DIGITS + "abcdef"


def read_secret(cfg: AgiSettings) -> Secret:
    """The FastAGI secret from ``[agi] secret_file``: 32-128 lower-case hex digits (it sits in
    the AGI URL), in a file no other local user may read. :class:`ConfigError` otherwise."""
    path = cfg.secret_file
    if path is None:
        raise ConfigError(
            "[agi] secret_file is not set: FastAGI would answer any local process "
            '(docs/calling-back.md, "Install")'
        )
    secret = private_secret(
        "agi", "secret_file", path, "chmod 0640, owner callback-desk, group asterisk"
    )
    text = secret.reveal()
    if not _only(text, _SECRET, 32, 128):
        raise ConfigError(
            f"[agi] secret_file = {str(path)!r} must hold 32-128 lower-case hex digits "
            "(openssl rand -hex 32)"
        )
    return secret


def _check_template(key: str, template: str, placeholder: str) -> None:
    if template.count(placeholder) != 1:
        raise ConfigError(f"[agi] {key} = {template!r} must contain {placeholder} exactly once")
    rest = template.replace(placeholder, "")
    if any(c in "{}" or c in _TEMPLATE_FORBIDDEN or c.isspace() for c in rest):
        raise ConfigError(
            f"[agi] {key} = {template!r} may not contain spaces, quotes, braces or any of "
            ", & | $ ( ) ; \\"
        )


def _extensions(table: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    scopes: dict[str, tuple[str, ...]] = {}
    for ext, lines in table.items():
        if not _only(ext, _DIGITS, 1, 10):
            raise ConfigError(f"[agi.extensions] {ext!r} is not an extension number")
        if isinstance(lines, str):
            lines = [lines]
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ConfigError(f"[agi.extensions] {ext} must be a list of DIDs/extensions or '*'")
        for line in lines:
            if line != ALL_LINES and not _only(line.removeprefix("+"), _DIGITS, 1, 20):
                raise ConfigError(f"[agi.extensions] {ext}: {line!r} is not a DID or extension")
        scopes[ext] = (ALL_LINES,) if ALL_LINES in lines else tuple(lines)
    return scopes


def _names(table: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for ext, name in table.items():
        if not _only(ext, _DIGITS, 1, 10):
            raise ConfigError(f"[agi.names] {ext!r} is not an extension number")
        if (
            not isinstance(name, str)
            or not 1 <= len(name) <= 40
            or any(c < " " or c in _NAME_FORBIDDEN for c in name)
        ):
            raise ConfigError(f"[agi.names] {ext} must be a first name (1-40 characters)")
        names[ext] = name
    return names


def _sounds(table: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    sounds = dict(DEFAULTS)
    for step, files in table.items():
        if step not in DEFAULTS:
            raise ConfigError(f"[agi.sounds] unknown step {step!r} (one of {', '.join(DEFAULTS)})")
        if (
            not isinstance(files, list)
            or not files
            or not all(
                isinstance(f, str) and (f in ("{n}", "{nth}") or _only(f, _ALNUM + "_/-", 1, 80))
                for f in files
            )
        ):
            raise ConfigError(f"[agi.sounds] {step} must be a list of sound file names")
        sounds[step] = tuple(files)
    return sounds
