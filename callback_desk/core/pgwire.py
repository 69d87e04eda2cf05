"""A small synchronous PostgreSQL client for one short-lived process: the classic AGI.

Why not asyncpg there: Asterisk starts a process for every classic AGI session, and the desk
hears nothing until that process has said how many callers wait. Importing asyncpg costs ~95 ms
and the asyncio it needs ~50 ms, more than the whole budget (``bench/agi.py``); the session runs
a handful of named queries on one connection, which this module does with the standard library.
Everything else (the listener, FastAGI, the report, the inbox) keeps asyncpg.

What it speaks: protocol 3.0; trust, password, MD5 and SCRAM-SHA-256 authentication; TLS as
``sslmode`` disable, prefer (the default over TCP) and require ask (encryption without checking
the certificate, as libpq and asyncpg do for those modes); the extended query protocol with every
value bound as text; text results decoded by type, strictly (a type it does not know is an
error, never a guess). Every connection sets :data:`callback_desk.core.connection.SERVER_SETTINGS`
and reads timestamps in UTC.

What it leaves to asyncpg: anything else a DSN or the environment can ask for (certificate
checks, client certificates, several hosts, service files, a password file, ``PG*`` variables,
other authentication methods). :func:`parse_dsn` and :meth:`Connection.open` raise
:class:`Unsupported` for those *before anything is sent to Asterisk*, and the caller opens the
connection with asyncpg instead: the same DSN always reaches the same server as the same user.
"""

from __future__ import annotations

# _socket, not socket: the public module turns its constants into enums at import (with the
# selectors it loads, ~4 ms of the classic AGI's start, which waits for this module); a
# connection needs only the socket itself and getaddrinfo.
import _socket
import os
import struct
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from callback_desk.core.connection import SERVER_SETTINGS
from callback_desk.core.exceptions import StoreError, StoreUnavailable
from callback_desk.core.typeshim import TYPE_CHECKING, NamedTuple, TypeVar

if TYPE_CHECKING:
    from typing import Any

# libpq's and asyncpg's default places for the server's Unix socket, then TCP.
DEFAULT_HOSTS = ("/run/postgresql", "/var/run/postgresql", "/tmp", "/private/tmp", "localhost")
_SSL_MODES = ("disable", "prefer", "require")
_PROTOCOL = 196608  # 3.0
_SSL_REQUEST = 80877103
# A server message longer than this is not one this client asked for.
_MAX_MESSAGE = 64 * 1024 * 1024
T = TypeVar("T")
_INT = struct.Struct("!i")
# Message types (their first byte) that fetch() reads.
_DATA_ROW, _ROW_DESCRIPTION, _ERROR, _READY = b"DTEZ"


class Unsupported(Exception):
    """The DSN, the environment or the server asks for something only asyncpg does."""


class Dsn(NamedTuple):  # not a dataclass: see callback_desk.core.awaiting
    """Where and as whom to connect, read from a DSN."""

    hosts: tuple[str, ...]  # a directory (Unix socket) or a host name / address
    port: int
    user: str
    password: str | None
    database: str
    sslmode: str
    settings: tuple[tuple[str, str], ...] = ()  # the DSN's other parameters: server settings


# What asyncpg reads out of a DSN's query string besides host, port, database, user, password
# and sslmode: all of it is left to asyncpg. Any other parameter is a server setting (sent at
# login, as asyncpg does; ``role=...`` is one).
_LEFT_TO_ASYNCPG = frozenset(
    {
        "passfile",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslnegotiation",
        "sslcrl",
        "sslpassword",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        "service",
    }
)


def parse_dsn(dsn: str, environ: Mapping[str, str] = os.environ) -> Dsn:
    """A ``postgresql://`` DSN read as asyncpg reads it; :class:`Unsupported` for any part this
    client does not honour (asyncpg reads the DSN instead)."""
    if any(name.startswith("PG") for name in environ):
        raise Unsupported("PG* environment variables are set")
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres") or parts.fragment:
        raise Unsupported("not a postgresql:// URL")
    if parts.netloc.count("@") > 1 or ";" in parts.path or "\0" in unquote(dsn):
        raise Unsupported("a DSN asyncpg may read differently")
    auth, _, hostspec = parts.netloc.rpartition("@")
    user_text, _, password_text = auth.partition(":")
    if "," in hostspec or hostspec.startswith("["):
        raise Unsupported("several hosts, or an IPv6 literal")
    host_text, _, port_text = hostspec.partition(":")
    try:
        query = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise Unsupported("a query string asyncpg may read differently") from None
    if parts.query and not query:
        raise Unsupported("an empty query string")
    if _LEFT_TO_ASYNCPG & query.keys():
        raise Unsupported(f"DSN parameters {sorted(_LEFT_TO_ASYNCPG & query.keys())}")
    sslmode = query.pop("sslmode", "") or "prefer"
    if sslmode not in _SSL_MODES:
        raise Unsupported(f"sslmode={sslmode}")
    # The URL's own parts win over the query's, as in asyncpg.
    host = unquote(host_text) or query.pop("host", "")
    port_text = port_text or query.pop("port", "")
    query.pop("host", None)
    query.pop("port", None)
    from_query = query.pop("dbname", None) or query.pop("database", None)
    query.pop("database", None)
    user = unquote(user_text) or query.pop("user", "") or _os_user()
    password = unquote(password_text) or query.pop("password", "") or None
    query.pop("user", None)
    query.pop("password", None)
    if host and not host.startswith("/") and any(c in host for c in "/%"):
        raise Unsupported("a host name asyncpg may read differently")
    try:
        port = int(port_text) if port_text else 5432
    except ValueError:
        raise Unsupported("a port that is not a number") from None
    if parts.path:
        database = unquote(parts.path[1:]) or user
    else:
        database = from_query or user
    hosts = (host,) if host else DEFAULT_HOSTS
    return Dsn(hosts, port, user, password, database, sslmode, tuple(sorted(query.items())))


def _os_user() -> str:
    import getpass  # lazy: only a DSN without a user needs it

    return getpass.getuser()


# -- values ----------------------------------------------------------------------------------


def encode(value: object) -> bytes | None:
    """A parameter as PostgreSQL's text form; None is SQL NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int | str):
        return str(value).encode("utf-8")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime would be read in the server's time zone")
        return value.isoformat().encode("ascii")
    if isinstance(value, date):
        return value.isoformat().encode("ascii")
    if isinstance(value, list | tuple):
        return ("{" + ",".join(_array_item(v) for v in value) + "}").encode("utf-8")
    raise TypeError(f"cannot send a {type(value).__name__} to PostgreSQL")


def _array_item(value: object) -> str:
    if value is None:
        return "NULL"
    raw = encode(value)
    assert raw is not None
    text = raw.decode("utf-8")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _timestamptz(text: str) -> datetime:
    if text == "infinity":
        return datetime.max.replace(tzinfo=UTC)
    if text == "-infinity":
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(text)


def _bool(text: str) -> bool:
    return text == "t"


def _decimal(text: str) -> Any:
    from decimal import Decimal  # lazy: no query of the classic AGI returns one

    return Decimal(text)


# Type OIDs (pg_type) this client decodes, and how; arrays of them by their own OIDs.
SCALARS: dict[int, Callable[[str], Any]] = {
    16: _bool,
    20: int,
    21: int,
    23: int,
    26: int,
    25: str,
    19: str,
    114: str,
    705: str,
    1042: str,
    1043: str,
    3802: str,
    700: float,
    701: float,
    1700: _decimal,
    1082: date.fromisoformat,
    1114: datetime.fromisoformat,
    1184: _timestamptz,
    2278: lambda _text: None,  # void: what pg_sleep() and the like return
}
ARRAYS = {
    1000: 16,
    1016: 20,
    1005: 21,
    1007: 23,
    1009: 25,
    1003: 19,
    1014: 1042,
    1015: 1043,
    1022: 701,
    1182: 1082,
    1185: 1184,
}


def decoder(oid: int) -> Callable[[str], Any]:
    if oid in SCALARS:
        return SCALARS[oid]
    if oid in ARRAYS:
        item = SCALARS[ARRAYS[oid]]
        return lambda text: parse_array(text, item)
    raise StoreError(f"the database returned a value of type {oid}, which this client cannot read")


def parse_array(text: str, item: Callable[[str], Any]) -> list[Any]:
    """A one-dimensional array in PostgreSQL's text form: ``{a,"b c",NULL}``."""
    if not (text.startswith("{") and text.endswith("}")):
        raise StoreError("the database returned an array this client cannot read")
    values: list[Any] = []
    body = text[1:-1]
    if body == "":
        return values
    if '"' not in body and "{" not in body:
        # Nothing quoted (PostgreSQL quotes any element holding a comma, a quote, a backslash,
        # a brace or a space) and nothing nested: the loop below would split at every comma.
        # Most arrays a report reads (the dial strings of every caller) are like this.
        return [None if raw.upper() == "NULL" else item(raw) for raw in body.split(",")]
    i = 0
    while True:
        if body.startswith('"', i):
            chars: list[str] = []
            i += 1
            while body[i] != '"':
                if body[i] == "\\":
                    i += 1
                chars.append(body[i])
                i += 1
            values.append(item("".join(chars)))
            i += 1
        else:
            end = body.find(",", i)
            end = len(body) if end < 0 else end
            raw = body[i:end]
            if raw.startswith("{"):
                raise StoreError("the database returned a nested array")
            values.append(None if raw.upper() == "NULL" else item(raw))
            i = end
        if i >= len(body):
            return values
        if body[i] != ",":
            raise StoreError("the database returned an array this client cannot read")
        i += 1


# -- errors ----------------------------------------------------------------------------------


class ServerError(Exception):
    """An ErrorResponse: only its SQLSTATE and the schema objects it names leave this module
    (the message and DETAIL may quote row values: a caller's number)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        # The names asyncpg gives them, so that one mapping (callback_desk.core.dberrors) reads
        # both clients' errors.
        self.sqlstate = fields.get("C", "")
        self.table_name = fields.get("t", "")
        self.constraint_name = fields.get("n", "")
        super().__init__(f"SQLSTATE {self.sqlstate}")


# -- the connection --------------------------------------------------------------------------


class Connection:
    """One connection, used by one thread, one statement at a time."""

    def __init__(self, sock: Any, timeout: float) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._timeout = timeout
        self.broken = False

    @classmethod
    def open(cls, dsn: Dsn, timeout: float, command_timeout: float | None = None) -> Connection:
        """Connect and log in within ``timeout`` seconds a step; each later statement then gets
        ``command_timeout`` (default: ``timeout``). :class:`Unsupported` when the server asks
        for what only asyncpg does (a password this DSN does not hold, GSSAPI, ...);
        OSError/TimeoutError/ServerError otherwise (:func:`callback_desk.core.dberrors.mapped`
        maps them)."""
        error: BaseException = OSError("no address to connect to")
        for host in dsn.hosts:
            try:
                sock = _connect(host, dsn.port, timeout)
            except OSError as exc:
                error = exc
                continue
            conn = cls(sock, timeout)
            try:
                if not host.startswith("/") and dsn.sslmode != "disable":
                    conn._start_tls(dsn.sslmode == "require", host)
                conn._startup(dsn)
            except BaseException:
                conn.close()
                raise
            if command_timeout is not None:
                conn._timeout = command_timeout
            return conn
        raise error

    def close(self) -> None:
        try:
            if not self.broken:
                self._sock.sendall(b"X\x00\x00\x00\x04")
        except OSError:
            pass
        finally:
            self.broken = True
            self._sock.close()

    # -- wire ------------------------------------------------------------------------------
    def _recv(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._more(n - len(self._buf))
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _more(self, wanted: int) -> None:
        chunk = self._sock.recv(max(65536, wanted))
        if not chunk:
            self.broken = True
            raise ConnectionResetError("the database closed the connection")
        self._buf += chunk

    def _length(self, at: int) -> int:
        """The length of the message whose type byte is at ``at`` in the buffer."""
        length: int = _INT.unpack_from(self._buf, at + 1)[0]
        if not 4 <= length <= _MAX_MESSAGE:
            self.broken = True
            raise ConnectionResetError("the database sent a malformed message")
        return length

    def _message(self) -> tuple[bytes, bytes]:
        while len(self._buf) < 5:
            self._more(5 - len(self._buf))
        length = self._length(0)
        kind = bytes(self._buf[:1])
        del self._buf[:5]
        return kind, self._recv(length - 4)

    def _send(self, *messages: bytes) -> None:
        self._sock.sendall(b"".join(messages))

    def _start_tls(self, required: bool, host: str) -> None:
        self._send(struct.pack("!ii", 8, _SSL_REQUEST))
        answer = self._recv(1)
        if answer == b"N":
            if required:
                raise StoreUnavailable("the database does not offer TLS (sslmode=require)")
            return
        if answer != b"S" or self._buf:
            raise ConnectionResetError("the database answered the TLS request oddly")
        import ssl  # lazy: only a server that offers TLS needs it

        # sslmode prefer/require: encryption without checking the certificate, as libpq and
        # asyncpg do for these modes (verify-ca/verify-full go to asyncpg: parse_dsn).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self._sock = context.wrap_socket(self._sock, server_hostname=host)

    def _startup(self, dsn: Dsn) -> None:
        params = {
            **dict(dsn.settings),
            "user": dsn.user,
            "database": dsn.database,
            "client_encoding": "UTF8",
            "DateStyle": "ISO",
            "TimeZone": "UTC",
            **SERVER_SETTINGS,
        }
        body = struct.pack("!i", _PROTOCOL) + b"".join(
            k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()
        )
        body += b"\0"
        self._send(struct.pack("!i", len(body) + 4) + body)
        scram: _Scram | None = None
        while True:
            kind, data = self._message()
            if kind == b"E":
                raise ServerError(_fields(data))
            if kind == b"R":
                code = struct.unpack("!i", data[:4])[0]
                if code == 0:
                    continue
                if dsn.password is None:
                    # asyncpg would look in the password file: let it.
                    raise Unsupported("the database asks for a password the DSN does not hold")
                if code == 3:
                    self._send(_msg(b"p", dsn.password.encode() + b"\0"))
                elif code == 5:
                    import hashlib  # lazy, as in _Scram

                    inner = hashlib.md5(dsn.password.encode() + dsn.user.encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + data[4:8]).hexdigest()
                    self._send(_msg(b"p", b"md5" + outer.encode() + b"\0"))
                elif code == 10:
                    if b"SCRAM-SHA-256\0" not in data[4:]:
                        raise Unsupported("the database offers no SCRAM-SHA-256")
                    scram = _Scram(dsn.password)
                    first = scram.first()
                    self._send(
                        _msg(
                            b"p",
                            b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first,
                        )
                    )
                elif code == 11 and scram is not None:
                    self._send(_msg(b"p", scram.final(data[4:])))
                elif code == 12 and scram is not None:
                    scram.verify(data[4:])
                else:
                    raise Unsupported(f"authentication method {code}")
            elif kind == b"Z":
                return
            # S (parameter status), K (cancel key), N (notice): nothing to keep.

    # -- queries ---------------------------------------------------------------------------
    def fetch(self, query: str, *args: object) -> list[dict[str, Any]]:
        """Run one statement with ``args`` bound as $1, $2, ...; its rows as dicts."""
        if self.broken:
            raise ConnectionResetError("the connection is closed")
        values = [encode(a) for a in args]
        bind = b"\0\0" + struct.pack("!hh", 0, len(values))
        for value in values:
            bind += (
                struct.pack("!i", -1) if value is None else struct.pack("!i", len(value)) + value
            )
        bind += struct.pack("!h", 0)
        self._sock.settimeout(self._timeout)
        try:
            self._send(
                _msg(b"P", b"\0" + query.encode("utf-8") + b"\0" + struct.pack("!h", 0)),
                _msg(b"B", bind),
                _msg(b"D", b"P\0"),
                _msg(b"E", b"\0" + struct.pack("!i", 0)),
                _msg(b"S", b""),
            )
            return self._rows()
        except (OSError, TimeoutError):
            self.broken = True
            raise

    def _rows(self) -> list[dict[str, Any]]:
        """Read to ReadyForQuery whatever happens, so the connection stays in step: an error
        (the server's, or a value this client cannot read) is raised only then. Messages are
        read where they lie in the buffer, each row's values straight out of it: a report of
        every line reads tens of thousands of rows, and copying each message out first was a
        good part of their cost."""
        names: list[str] = []
        decoders: list[Callable[[str], Any]] = []
        rows: list[dict[str, Any]] = []
        error: Exception | None = None
        buf = self._buf
        while True:
            pos, size = 0, len(buf)
            while size - pos >= 5:
                end = pos + 1 + self._length(pos)
                if end > size:
                    break
                kind = buf[pos]
                try:
                    if kind == _DATA_ROW:
                        if error is None:
                            cells = _cells(buf, pos + 7, decoders)
                            rows.append(dict(zip(names, cells, strict=True)))
                    elif kind == _ROW_DESCRIPTION:
                        names, decoders = _columns(bytes(buf[pos + 5 : end]))
                except (StoreError, ValueError) as exc:
                    error = error or exc
                if kind == _ERROR:
                    error = ServerError(_fields(bytes(buf[pos + 5 : end])))
                elif kind == _READY:
                    del buf[:end]
                    if error is not None:
                        raise error
                    return rows
                # 1 (parse), 2 (bind), n (no data), C (complete), N, S: nothing to keep.
                pos = end
            del buf[:pos]
            self._more(0 if size - pos < 5 else 1 + self._length(0) - len(buf))

    def fetchrow(self, query: str, *args: object) -> dict[str, Any] | None:
        rows = self.fetch(query, *args)
        return rows[0] if rows else None

    def fetchval(self, query: str, *args: object) -> Any:
        row = self.fetchrow(query, *args)
        return None if row is None else next(iter(row.values()))


def _connect(host: str, port: int, timeout: float) -> Any:
    if host.startswith("/"):
        return _socket_to(
            _socket.AF_UNIX, _socket.SOCK_STREAM, 0, os.path.join(host, f".s.PGSQL.{port}"), timeout
        )
    # An ASCII name as bytes: getaddrinfo would otherwise load the idna codec (~1.5 ms).
    address = host.encode("ascii") if host.isascii() else host
    # socket.create_connection's loop: each address in turn, the last error if none answers.
    error: OSError = OSError("getaddrinfo returns an empty list")
    for family, kind, proto, _name, where in _socket.getaddrinfo(
        address, port, 0, _socket.SOCK_STREAM
    ):
        try:
            sock = _socket_to(family, kind, proto, where, timeout)
        except OSError as exc:
            error = exc
            continue
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return sock
    raise error


def _socket_to(family: int, kind: int, proto: int, where: Any, timeout: float) -> Any:
    sock = _socket.socket(family, kind, proto)
    try:
        sock.settimeout(timeout)
        sock.connect(where)
    except BaseException:
        sock.close()
        raise
    return sock


def _msg(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _fields(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in data.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def _columns(data: bytes) -> tuple[list[str], list[Callable[[str], Any]]]:
    count = struct.unpack("!h", data[:2])[0]
    names: list[str] = []
    decoders: list[Callable[[str], Any]] = []
    pos = 2
    for _ in range(count):
        end = data.index(b"\0", pos)
        names.append(data[pos:end].decode("utf-8"))
        oid = struct.unpack("!i", data[end + 7 : end + 11])[0]
        decoders.append(decoder(oid))
        pos = end + 19
    return names, decoders


def _cells(data: bytearray, pos: int, decoders: Sequence[Callable[[str], Any]]) -> list[Any]:
    """The values of a DataRow, the first of which starts at ``pos`` in ``data`` (after the
    count of values)."""
    values: list[Any] = []
    for decode in decoders:
        length = _INT.unpack_from(data, pos)[0]
        pos += 4
        if length < 0:
            values.append(None)
        else:
            end = pos + length
            values.append(decode(data[pos:end].decode("utf-8")))
            pos = end
    return values


class _Scram:
    """SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677), as PostgreSQL runs it."""

    def __init__(self, password: str, nonce: str | None = None, name: str = "") -> None:
        # hashlib/hmac/base64 are imported here, not at the top: a login without a password
        # (trust, peer) needs none of them, and OpenSSL's hashlib is ~3 ms of a classic start.
        import base64

        if not password.isascii():
            # asyncpg normalises non-ASCII passwords (SASLprep); let it.
            raise Unsupported("a non-ASCII password")
        self._password = password.encode()
        self._nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        # PostgreSQL takes the user from the startup message and ignores this name.
        self._first_bare = f"n={name},r={self._nonce}"
        self._auth = b""
        self._salted = b""

    def first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        import base64
        import hashlib
        import hmac

        attrs = dict(part.split("=", 1) for part in server_first.decode().split(","))
        nonce, salt, rounds = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self._nonce) or not 1 <= rounds <= 10_000_000:
            raise ConnectionResetError("the database's SCRAM challenge is not acceptable")
        self._salted = hashlib.pbkdf2_hmac("sha256", self._password, salt, rounds)
        client_key = hmac.digest(self._salted, b"Client Key", "sha256")
        without_proof = f"c=biws,r={nonce}"
        self._auth = f"{self._first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), self._auth, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        """The server proves it knew the password too: a server that did not is not ours."""
        import base64
        import hmac

        server_key = hmac.digest(self._salted, b"Server Key", "sha256")
        expected = b"v=" + base64.b64encode(hmac.digest(server_key, self._auth, "sha256"))
        if not hmac.compare_digest(server_final.strip(), expected):
            raise ConnectionResetError("the database could not prove it knows the password")


class WirePool:
    """:class:`callback_desk.core.connection.Queryable` over one :class:`Connection`: the named
    queries run unchanged (``awaiting``, ``agi.queries.Callbacks``). The coroutines never
    suspend, so the classic AGI and the report as a command step them without an event loop
    (:func:`drive`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return self._conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        return self._conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return self._conn.fetchval(query, *args)


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (one awaiting only :class:`WirePool`) to its end,
    without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a coroutine run without an event loop tried to suspend")
