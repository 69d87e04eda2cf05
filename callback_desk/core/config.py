"""One typed, frozen configuration object built from a TOML file and the environment.

Precedence: command-line flag > environment (``CALLBACK_DESK_<SECTION>_<KEY>``) > TOML file >
default. Every error names the key, e.g. ``[ami] port = 'x' is not a valid int (from
CALLBACK_DESK_AMI_PORT)``. Secrets are wrapped in :class:`Secret` and never printed.

Feature packages (the AGI, the report) parse their own ``[section]`` with :class:`Section`, so
the whole program reads one file with one set of rules.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callback_desk.core import snapshot
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.phone import supported_regions
from callback_desk.core.record import field, record
from callback_desk.core.typeshim import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from typing import Any

DEFAULT_TIMEZONE = "UTC"
DEFAULT_CONFIG_PATH = Path(snapshot.DEFAULT_PATH)
ENV_PREFIX = snapshot.ENV_PREFIX
env_name = snapshot.env_name
# Top-level tables the program understands; anything else is a typo worth reporting.
KNOWN_SECTIONS = (
    "database",
    "ami",
    "pbx",
    "listener",
    "retention",
    "awaiting",
    "agi",
    "report",
    "smtp",
    "web",
    "reconcile",
)

# The deepest setting is [section.table] key = [array]; anything far deeper is not a config.
MAX_DEPTH = 8

T = TypeVar("T")
_MISSING: Any = object()


class Secret:
    """A string that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Section:
    """Typed reads from one ``[section]``, environment first; leftovers are reported as typos."""

    def __init__(
        self,
        name: str,
        table: Mapping[str, Any],
        environ: Mapping[str, str],
        seen: set[str] | None = None,
        path: Path | None = None,
    ) -> None:
        self.name = name
        # The config file the table was read from (None: built in memory, e.g. by tests).
        self._path = path
        self._table = dict(table)
        self._environ = environ
        self._used: set[str] = set()
        # Every environment name a reader asked for (see unknown_environment).
        self._seen = seen if seen is not None else set()

    def _where(self, key: str, from_env: bool) -> str:
        return f" (from {env_name(self.name, key)})" if from_env else ""

    def _raw(self, key: str) -> tuple[Any, bool]:
        self._used.add(key)
        self._seen.add(env_name(self.name, key))
        return snapshot.env_first(self._table, self._environ, self.name, key, _MISSING)

    def _get(self, key: str, kind: str, default: Any, cast: Callable[[Any, bool], T]) -> T:
        raw, from_env = self._raw(key)
        if raw is _MISSING:
            if default is _MISSING:
                raise ConfigError(
                    f"[{self.name}] {key} is required (set it in the config file or "
                    f"{env_name(self.name, key)})"
                )
            return default  # type: ignore[no-any-return]
        try:
            return cast(raw, from_env)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"[{self.name}] {key} = {_show(raw)} is not a valid {kind}"
                f"{self._where(key, from_env)}"
            ) from exc

    def text(self, key: str, default: Any = _MISSING) -> str:
        def cast(raw: Any, _env: bool) -> str:
            if not isinstance(raw, str):
                raise TypeError(raw)
            return raw

        return self._get(key, "string", default, cast)

    def integer(self, key: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        def cast(raw: Any, _env: bool) -> int:
            if isinstance(raw, bool):
                raise TypeError(raw)
            value = int(raw.strip()) if isinstance(raw, str) else raw
            if not isinstance(value, int) or (minimum is not None and value < minimum):
                raise ValueError(raw)
            return value

        return self._get(key, "int" if minimum is None else f"int >= {minimum}", default, cast)

    def number(self, key: str, default: Any = _MISSING, minimum: float = 0.0) -> float:
        def cast(raw: Any, _env: bool) -> float:
            if isinstance(raw, bool):
                raise TypeError(raw)
            value = float(raw) if isinstance(raw, str | int) else raw
            if not isinstance(value, float) or not value >= minimum or value == float("inf"):
                raise ValueError(raw)
            return value

        return self._get(key, f"number >= {minimum:g}", default, cast)

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        def cast(raw: Any, _env: bool) -> bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in _BOOLS:
                return _BOOLS[raw.strip().lower()]
            raise ValueError(raw)

        return self._get(key, "boolean (true/false)", default, cast)

    def strings(self, key: str, default: Any = _MISSING) -> tuple[str, ...]:
        def cast(raw: Any, from_env: bool) -> tuple[str, ...]:
            # Environment values are comma-separated; TOML values are arrays of strings.
            if from_env and isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
                return tuple(raw)
            raise TypeError(raw)

        return self._get(key, "list of strings", default, cast)

    def secret(self, key: str, default: Any = _MISSING) -> Secret:
        def cast(raw: Any, _env: bool) -> Secret:
            if not isinstance(raw, str):
                raise TypeError("secret")
            return Secret(raw)

        # The value is never echoed in the error, it may be a real password.
        raw, from_env = self._raw(key)
        if raw is not _MISSING and not isinstance(raw, str):
            raise ConfigError(f"[{self.name}] {key} must be a string{self._where(key, from_env)}")
        return self._get(key, "string", default, cast)

    def inline_secret(self, key: str, fix: str | None = None) -> Secret | None:
        """A secret that may be written in the config file itself, refused there when the file
        is not private (:func:`exposed`): every local user who can read the file would hold the
        secret. ``fix`` says where to keep it instead (default: the environment). None when
        unset."""
        value = self.secret(key, None)
        if value:
            self._private(key, fix)
        return value

    def dsn(self, key: str, default: Any = _MISSING) -> Secret:
        """A PostgreSQL DSN. A password in it is a secret written in the file (refused when
        the file is not private, as :meth:`inline_secret`); a password file it names
        (``passfile=``, or ``$PGPASSFILE``) is refused unless only its owner may read it, as
        asyncpg and libpq read it only then (they skip it with a mere warning)."""
        value = self.secret(key, default)
        if not value:
            return value
        parts = urlsplit(value.reveal())
        query = dict(parse_qsl(parts.query))
        if parts.password or query.get("password"):
            self._private(key, None)
        passfile = query.get("passfile") or self._environ.get("PGPASSFILE", "")
        if passfile and parts.scheme in ("postgresql", "postgres"):
            _password_file(self.name, key, Path(passfile))
        return value

    def _private(self, key: str, fix: str | None) -> None:
        """Refuse secret ``key`` written in the config file when others may read that file."""
        raw, from_env = self._raw(key)
        if raw is _MISSING or from_env or self._path is None:
            return
        try:
            problem = exposed(self._path.stat())
        except OSError:
            problem = None  # read a moment ago: a file gone since has nothing left to leak
        if problem:
            fix = fix or (
                f"move it to {env_name(self.name, key)} in the service's environment file, "
                f"or chmod 0640 {self._path} (group callback-desk)"
            )
            raise ConfigError(
                f"[{self.name}] {key} is written in {self._path}, which {problem}: {fix}"
            )

    def table(self, key: str) -> Mapping[str, Any]:
        """A nested table (``[section.key]``); not overridable from the environment."""
        self._used.add(key)
        value = self._table.get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{self.name}] {key} must be a table")
        return value

    def timezone(self, key: str, default: str) -> ZoneInfo:
        name = self.text(key, default)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"[{self.name}] {key} = {name!r} is not a known time zone (e.g. 'America/New_York')"
            ) from exc

    def finish(self) -> None:
        """Raise on keys nobody read: a typo should not silently fall back to a default."""
        unknown = sorted(set(self._table) - self._used)
        if unknown:
            raise ConfigError(f"[{self.name}] unknown key {unknown[0]!r}")


def ami_credential(key: str, value: str, section: str = "ami") -> str:
    """Refuse an AMI username/secret that would break the Login action or could not be sent.

    A CR/LF would inject headers into the Login action; a byte that is not UTF-8 (the
    environment hands those over as surrogates) cannot be encoded, and an encoder's error
    message quotes the value. The error names the key, never the value.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ConfigError(f"[{section}] {key} contains a control character (CR, LF, tab...)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"[{section}] {key} is not valid UTF-8 text") from None
    return value


def _depth(root: Any) -> int:
    """How deeply tables and arrays nest (iterative: a hostile file cannot exhaust the stack)."""
    deepest, stack = 0, [(root, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                items = value.values() if isinstance(value, dict) else value
                stack.extend((item, level + 1) for item in items)
    return deepest


def private_secret(section: str, key: str, path: Path, fix: str) -> Secret:
    """The stripped text of a secret file, refused (one line naming the key) when it cannot be
    read, when any local user may read it, or when anyone but its owner may change it: it signs,
    or authenticates, what a local attacker must not forge, and whoever can replace the key can
    forge with a key of their own. ``fix`` says which owner and mode the file should have."""
    where = f"[{section}] {key} = {str(path)!r}"
    try:
        st = path.stat()
        text = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} cannot be read ({exc})") from exc
    problem = exposed(st)
    if problem:
        raise ConfigError(f"{where} {problem} ({fix})")
    return Secret(text)


def _password_file(section: str, key: str, path: Path) -> None:
    """A PostgreSQL password file (``passfile=`` in a DSN, ``$PGPASSFILE``) that others may read
    or write is refused: libpq and asyncpg would skip it with a warning and the login would
    fail later, for a reason nobody sees."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return  # asyncpg ignores a missing one: the login then says what is missing
    except OSError as exc:
        raise ConfigError(
            f"[{section}] {key}: password file {str(path)!r} cannot be read ({exc})"
        ) from exc
    problem = exposed(st)
    if problem is None and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problem = f"is readable by group {_group_name(st.st_gid)}"
    if problem:
        raise ConfigError(
            f"[{section}] {key}: password file {str(path)!r} {problem} (chmod 0600, owned by the "
            "service's user: PostgreSQL's clients read it only when nobody else may)"
        )


def exposed(st: os.stat_result) -> str | None:
    """What makes a file that holds a secret unsafe, in words ("is readable by every local
    user"), or None: world-readable, or writable by anyone but its owner (group or world)."""
    if st.st_mode & stat.S_IWOTH:
        return "is writable by every local user"
    if st.st_mode & stat.S_IWGRP:
        return f"is writable by group {_group_name(st.st_gid)}, whose members could replace it"
    if st.st_mode & stat.S_IROTH:
        return "is readable by every local user"
    return None


def _group_name(gid: int) -> str:
    try:
        import grp  # lazy: only an error message names a group

        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _readable(section: str, key: str, name: str) -> Path:
    path = Path(name)
    if not os.access(path, os.R_OK) or not path.is_file():
        raise ConfigError(f"[{section}] {key} = {name!r} is not a readable file")
    return path


_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    """The tables of a settings file, or one line saying why it has none."""
    import tomllib  # lazy: a settings snapshot (callback_desk.core.snapshot) spares the parse

    try:
        sections = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}); TOML must be UTF-8"
        ) from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests arrays or tables too deep") from None
    if _depth(sections) > MAX_DEPTH:
        raise ConfigError(
            f"config file {path} nests tables or arrays deeper than {MAX_DEPTH} levels"
        )
    return sections


def _show(raw: Any) -> str:
    return repr(raw) if len(repr(raw)) < 80 else repr(raw)[:77] + "..."


@record
class DatabaseSettings:
    """The ``[database]`` section."""

    dsn: Secret
    # How long a command waits for PostgreSQL before it gives up with a clear error.
    connect_timeout: float = 10.0


@record
class AmiSettings:
    """The ``[ami]`` section: the PBX's manager interface."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callbackdesk"
    secret: Secret | None = None
    # Seconds between AMI Pings; a Ping unanswered for this long drops and redials the link.
    ping_interval: float = 10.0
    reconnect_max: float = 60.0
    # AMI over TLS (Asterisk's manager.conf tlsenable, port 5039): the certificate is verified
    # against ca_file (or the system's CAs) and must name server_name (default: host).
    tls: bool = False
    ca_file: Path | None = None
    server_name: str = ""

    def require_secret(self) -> Secret:
        if not self.secret:
            raise ConfigError(
                "[ami] secret is required (set it in the config file or "
                f"{env_name('ami', 'secret')})"
            )
        return self.secret


@record
class PbxSettings:
    """The ``[pbx]`` section: which PBX, its inbound contexts, time zone and country."""

    name: str = "pbx"
    inbound_contexts: tuple[str, ...] = ("from-pstn", "from-trunk")
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    # ISO 3166 region used to read national numbers ("0301234567" in DE, "2125550123" in US).
    country: str = "US"


@record
class ListenerSettings:
    """The ``[listener]`` section."""

    # After the last channel of a call hangs up, wait this long for late MessageWaiting/UserEvent
    # frames: they travel on other Stasis topics and may arrive after the Hangup.
    settle_seconds: float = 2.0
    # A call with no end after this long is decided with reason "unknown_end" (bounded memory).
    max_call_seconds: float = 12 * 3600.0
    # Calls followed at once; past it the oldest is closed as "unknown_end" (its row written, so
    # a missed caller stays listed). One Asterisk carries at most a few hundred calls at once:
    # the bound is only ever reached by calls whose end was never seen (lost Hangups), which
    # max_call_seconds closes anyway. At 1 % of calls never ending, 5,000 keeps the listener
    # flat under 100 MB (python -m bench, memory); with 20,000 it grew for two million calls.
    max_open_calls: int = 5000
    # Log every AMI frame at DEBUG (contains phone numbers: for short debugging sessions only).
    trace: bool = False
    # Where the listener keeps its crash-safe spool of decided calls and, across a restart, the
    # calls still in progress (systemd's StateDirectory=callback-desk).
    state_dir: Path = Path("/var/lib/callback-desk")
    # Bound on the spool's file; past 80 % a loud warning, when full every refused call is
    # logged at ERROR (a PostgreSQL outage of days at a busy practice fits in the default).
    spool_max_mb: int = 256
    # An AMI Timestamp further than this (seconds) from our clock is replaced by the receipt
    # time; 0 trusts the PBX's clock (replaying a recorded day, as the demo does).
    max_clock_skew: float = 86400.0


@record
class RetentionSettings:
    """The ``[retention]`` section."""

    # Missed-call rows are personal health-adjacent data: purge them after this many days.
    days: int = 90


@record
class AwaitingSettings:
    """The ``[awaiting]`` section."""

    # Who is awaiting a callback (callback_desk.core.awaiting): every caller not yet returned
    # with a missed call in the last ``lookback_days`` days. One setting for the report, the desk
    # menu and the inbox, so the three never disagree about who is on the to-do list.
    lookback_days: int = 14


@record
class Settings:
    """The whole configuration, one section per field."""

    database: DatabaseSettings
    ami: AmiSettings
    pbx: PbxSettings
    listener: ListenerSettings
    retention: RetentionSettings
    path: Path | None
    awaiting: AwaitingSettings = field(default_factory=AwaitingSettings)
    _sections: Mapping[str, Mapping[str, Any]] = field(repr=False, default_factory=dict)
    _environ: Mapping[str, str] = field(repr=False, default_factory=dict)
    # Environment names read so far (by the core and by every feature's section reader).
    _seen: set[str] = field(repr=False, compare=False, default_factory=set)

    def section(self, name: str) -> Section:
        """A reader for a feature's own section (``[agi]``, ``[report]``, ``[smtp]``)."""
        return Section(name, self._sections.get(name, {}), self._environ, self._seen, self.path)

    @property
    def environment_names(self) -> frozenset[str]:
        """The ``CALLBACK_DESK_*`` names the sections read so far could have come from."""
        return frozenset(self._seen)

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        environ: Mapping[str, str] | None = None,
        keep_snapshot: bool = False,
    ) -> Settings:
        """Read ``path`` (or the default file, if present) and apply the environment. The file's
        parsed snapshot is used when it matches (:mod:`callback_desk.core.snapshot`); with
        ``keep_snapshot`` a missing or old one is written, when this process owns the file."""
        environ = os.environ if environ is None else environ
        where, explicit = snapshot.locate(None if path is None else os.fspath(path), environ)
        path = Path(where)
        sections: dict[str, Any] = {}
        try:
            with path.open("rb") as fh:
                raw = fh.read()
                st = os.fstat(fh.fileno())
        except FileNotFoundError as exc:
            if explicit:
                raise ConfigError(f"config file {path} does not exist") from exc
            path = None
        except PermissionError as exc:
            raise ConfigError(f"config file {path} is not readable (permission denied)") from exc
        except IsADirectoryError as exc:
            raise ConfigError(f"config file {path} is a directory") from exc
        else:
            kept = snapshot.read(path, raw, st)
            sections = kept if kept is not None else _parse(path, raw)
            if kept is None and keep_snapshot:
                snapshot.write(path, raw, st, sections)
        return cls.from_mapping(sections, environ, path)

    @classmethod
    def from_mapping(
        cls, sections: Mapping[str, Any], environ: Mapping[str, str], path: Path | None = None
    ) -> Settings:
        for name, value in sections.items():
            if name not in KNOWN_SECTIONS:
                raise ConfigError(f"unknown section [{name}]")
            if not isinstance(value, dict):
                raise ConfigError(f"{name} must be a [section] table")

        seen: set[str] = set()

        def read(name: str) -> Section:
            return Section(name, sections.get(name, {}), environ, seen, path)

        db = read("database")
        database = DatabaseSettings(
            dsn=db.dsn("dsn"),
            connect_timeout=db.number(
                "connect_timeout", DatabaseSettings.connect_timeout, minimum=0.1
            ),
        )
        db.finish()

        ami_s = read("ami")
        secret = ami_s.inline_secret("secret")
        tls = ami_s.flag("tls", AmiSettings.tls)
        ca_file = ami_s.text("ca_file", "")
        ami = AmiSettings(
            host=ami_s.text("host", AmiSettings.host),
            port=ami_s.integer("port", 5039 if tls else 5038, minimum=1),
            username=ami_credential("username", ami_s.text("username", AmiSettings.username)),
            secret=Secret(ami_credential("secret", secret.reveal())) if secret else None,
            ping_interval=ami_s.number("ping_interval", AmiSettings.ping_interval, minimum=1.0),
            reconnect_max=ami_s.number("reconnect_max", AmiSettings.reconnect_max, minimum=1.0),
            tls=tls,
            ca_file=_readable("ami", "ca_file", ca_file) if ca_file else None,
            server_name=ami_s.text("server_name", AmiSettings.server_name),
        )
        ami_s.finish()
        if (ami.ca_file or ami.server_name) and not ami.tls:
            raise ConfigError("[ami] ca_file and server_name need tls = true")
        if ami.port > 65535:
            raise ConfigError(f"[ami] port = {ami.port} is not a valid TCP port")

        pbx_s = read("pbx")
        country = pbx_s.text("country", PbxSettings.country).upper()
        if country not in supported_regions():
            raise ConfigError(f"[pbx] country = {country!r} is not an ISO 3166 region code")
        pbx = PbxSettings(
            name=pbx_s.text("name", PbxSettings.name),
            inbound_contexts=pbx_s.strings("inbound_contexts", PbxSettings.inbound_contexts),
            timezone=pbx_s.timezone("timezone", DEFAULT_TIMEZONE),
            country=country,
        )
        pbx_s.finish()
        if not pbx.name.strip():
            raise ConfigError("[pbx] name must not be empty")

        li = read("listener")
        listener = ListenerSettings(
            settle_seconds=li.number("settle_seconds", ListenerSettings.settle_seconds),
            max_call_seconds=li.number(
                "max_call_seconds", ListenerSettings.max_call_seconds, minimum=60.0
            ),
            max_open_calls=li.integer("max_open_calls", ListenerSettings.max_open_calls, minimum=1),
            trace=li.flag("trace", ListenerSettings.trace),
            state_dir=Path(li.text("state_dir", str(ListenerSettings.state_dir))),
            spool_max_mb=li.integer("spool_max_mb", ListenerSettings.spool_max_mb, minimum=1),
            max_clock_skew=li.number("max_clock_skew", ListenerSettings.max_clock_skew),
        )
        li.finish()

        re_s = read("retention")
        retention = RetentionSettings(days=re_s.integer("days", RetentionSettings.days, minimum=1))
        re_s.finish()

        aw_s = read("awaiting")
        awaiting = AwaitingSettings(
            lookback_days=aw_s.integer("lookback_days", AwaitingSettings.lookback_days, minimum=1)
        )
        aw_s.finish()

        return cls(
            database=database,
            ami=ami,
            pbx=pbx,
            listener=listener,
            retention=retention,
            path=path,
            awaiting=awaiting,
            _sections={k: v for k, v in sections.items() if isinstance(v, dict)},
            _environ=dict(environ),
            _seen=seen,
        )


# Names that are not settings but are read on purpose: the config path, and the test suite's.
NON_SETTING_NAMES = frozenset(
    {f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}TEST_DSN", f"{ENV_PREFIX}REQUIRE_LAB", f"{ENV_PREFIX}CI"}
    # The gap tests' (tests/db/test_records.py, tests/lab/test_gaps_lab.py,
    # tests/lab/test_soak_lab.py).
    | {
        f"{ENV_PREFIX}{name}"
        for name in ("REQUIRE_MARIADB", "TEST_MYSQL_DSN", "LAB_PG", "LAB_MYSQL", "SOAK_SECONDS")
    }
)


def unknown_environment(
    environ: Mapping[str, str], known: frozenset[str], checked_sections: frozenset[str]
) -> list[str]:
    """``CALLBACK_DESK_*`` names that no setting reads: a typo (``..._AMI_PROT``) would
    otherwise be ignored in silence. A name is unknown when its section is unknown, or when its
    section is one of ``checked_sections`` (whose every key is in ``known``) and the key is not.
    Sections whose keys were not collected are given the benefit of the doubt."""
    unknown = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known or name in NON_SETTING_NAMES:
            continue
        section = name[len(ENV_PREFIX) :].partition("_")[0].lower()
        if section not in KNOWN_SECTIONS or section in checked_sections:
            unknown.append(name)
    return unknown
