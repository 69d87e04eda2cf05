"""``callback-desk doctor``: check a live install, one line per check, each with its fix.

✓ passed, ✗ failed (the exit code is 1 when any did), - not checked (and why). The doctor
reads what the services read: the config file and the secrets file (``--env-file``), so it
can be run from a shell as root, or as the ``callback-desk`` user.

What the PBX side cannot tell over AMI (the account's read classes and event filters) is read
from manager.conf when the PBX is on this host (``--asterisk-etc``); what it can tell is asked
live: the login, the actions the account may run (``ListCommands`` lists only those), whether
``FullyBooted`` arrives and carries a ``Timestamp`` (``timestampevents``), the contexts
(``ShowDialPlan``, which ``write = reporting`` may run).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import pwd
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Literal, TextIO

from agi import freepbx
from agi.config import AgiSettings
from agi.config import load as load_agi
from ami_listener import events
from callback_desk.core import layout
from callback_desk.core.accounts import Accounts
from callback_desk.core.ami import AmiClient, Frame
from callback_desk.core.config import DEFAULT_CONFIG_PATH, ENV_PREFIX, Settings
from callback_desk.core.exceptions import (
    AmiError,
    AmiLoginRefused,
    AmiUnavailable,
    CallbackDeskError,
    ConfigError,
    MailError,
    os_reason,
)
from callback_desk.core.store import Store
from callback_desk.doctor import manager_conf, secrets
from callback_desk.report.mail import check_blocking
from callback_desk.report.settings import report_settings, smtp_settings

# Each component has its own secrets file (deploy/*.service EnvironmentFile=); the doctor checks
# the listener's setup (its AMI account, its database role) and so reads the listener's.
DEFAULT_ENV_FILE = Path("/etc/callback-desk/listener.env")
DEFAULT_ASTERISK_ETC = Path("/etc/asterisk")
DEFAULT_AGI_SCRIPT = Path("/var/lib/asterisk/agi-bin/callback-desk-agi")

# What the listener's AMI account needs (manager.conf.sample [callbackdesk]); anything else is
# more than it needs.
NEEDED_READ = frozenset({"system", "call", "dialplan", "agent"})
ALLOWED_READ = NEEDED_READ
NEEDED_WRITE = frozenset({"reporting"})
FAILED_CONTEXT = "callback-desk-failed"

# Events the listener must receive, as the PBX would send them (header names lower-case).
SAMPLE_EVENTS: tuple[dict[str, str], ...] = (
    *(
        {"event": name, "privilege": "call,all"}
        for name in events.SUBSCRIBED
        if name not in ("VarSet", "Newexten", "CEL")
    ),
    *({"event": "VarSet", "variable": v, "value": "x"} for v in sorted(events.VARIABLES)),
    {"event": "Newexten", "application": "VoiceMail", "appdata": "100@default"},
    {"event": "CEL", "eventname": "LINKEDID_END"},
)

Status = Literal["ok", "fail", "skip"]
MARKS: Mapping[Status, str] = {"ok": "✓", "fail": "✗", "skip": "-"}


@dataclass(frozen=True)
class Check:
    status: Status
    what: str
    detail: str
    fix: str = ""
    refuse: bool = False  # so wrong that the doctor exits 2 (a secret others may write)

    def line(self) -> str:
        text = f"{MARKS[self.status]} {self.what}: {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix and self.status != "ok" else text


def ok(what: str, detail: str) -> Check:
    return Check("ok", what, detail)


def fail(what: str, detail: str, fix: str) -> Check:
    return Check("fail", what, detail, fix)


def skip(what: str, detail: str, fix: str = "") -> Check:
    return Check("skip", what, detail, fix)


@dataclass(frozen=True)
class DoctorOptions:
    config: Path | None = None
    env_file: Path = DEFAULT_ENV_FILE
    asterisk_etc: Path = DEFAULT_ASTERISK_ETC
    agi_script: Path = DEFAULT_AGI_SCRIPT
    timeout: float = 5.0


# -- files ---------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's EnvironmentFile= reads them (quotes stripped)."""
    values = {}
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def config_path(options: DoctorOptions, environ: Mapping[str, str]) -> Path:
    env = environ.get(f"{ENV_PREFIX}CONFIG")
    return options.config or (Path(env) if env else DEFAULT_CONFIG_PATH)


def permissions(path: Path, what: str) -> Check:
    mode = path.stat().st_mode
    if mode & stat.S_IROTH or mode & stat.S_IWOTH:
        return fail(
            f"{what} permissions",
            f"{path} is {'readable' if mode & stat.S_IROTH else 'writable'} by every user "
            f"(mode {stat.S_IMODE(mode):04o}) and may hold secrets",
            f"chown root:callback-desk {path} && chmod 640 {path}",
        )
    return ok(f"{what} permissions", f"{path} mode {stat.S_IMODE(mode):04o}, not world-readable")


def readable_by(path: Path, user: str) -> bool:
    """Whether ``user`` may read ``path`` by its mode bits (the doctor may run as root)."""
    st = path.stat()
    account = pwd.getpwnam(user)
    if account.pw_uid == 0:
        return True
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & stat.S_IRUSR)
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {account.pw_gid}
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IRGRP)
    return bool(st.st_mode & stat.S_IROTH)


# -- the PBX -------------------------------------------------------------------------------------


@dataclass
class AmiFindings:
    """What one AMI session showed."""

    state: str = ""  # connected | login_refused | unreachable | timeout
    reason: str = ""
    fully_booted: dict[str, str] | None = None
    commands: dict[str, frozenset[str]] = field(default_factory=dict)  # action -> its classes
    dialplan: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # query -> entries
    errors: dict[str, str] = field(default_factory=dict)  # query -> error message


def _messages(reply: Frame | list[Frame]) -> list[Frame]:
    return reply if isinstance(reply, list) else [reply]


async def probe_ami(settings: Settings, agi: AgiSettings, timeout: float) -> AmiFindings:
    found = AmiFindings()
    client = AmiClient.for_settings(settings.ami)
    booted = asyncio.Event()

    def on_booted(_client: AmiClient, headers: Mapping[str, str]) -> None:
        found.fully_booted = dict(headers)
        booted.set()

    client.register_event("FullyBooted", on_booted)
    try:
        try:
            async with asyncio.timeout(timeout * 3):
                await client.open()
        except AmiLoginRefused:
            found.state = "login_refused"
            return found
        except (AmiUnavailable, TimeoutError) as exc:
            found.state, found.reason = "unreachable", str(exc) or "no answer"
            return found
        found.state = "connected"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await booted.wait()
        reply = _messages(await client.send_action({"Action": "ListCommands"}, timeout=timeout))
        for key, value in reply[0].items():
            match = re.search(r"\(Priv: ([^)]*)\)\s*$", value)
            if match:
                found.commands[key] = manager_conf.classes(match.group(1))
        queries = {
            "feature": {"Extension": agi.feature_code},
            agi.originate_context: {"Context": agi.originate_context},
            FAILED_CONTEXT: {"Context": FAILED_CONTEXT},
        }
        for name, query in queries.items():
            messages = _messages(
                await client.send_action({"Action": "ShowDialPlan", **query}, timeout=timeout)
            )
            if messages[0].get("response", "").lower() == "error":
                found.errors[name] = messages[0].get("message", "error")
                continue
            found.dialplan[name] = [
                dict(m) for m in messages if m.get("event", "").lower() == "listdialplan"
            ]
    except AmiError as exc:
        found.state, found.reason = "unreachable", str(exc)
    finally:
        await client.aclose()
    return found


def ami_checks(settings: Settings, found: AmiFindings) -> list[Check]:
    ami = settings.ami
    where = f"{ami.host}:{ami.port}"
    what = "AMI login"
    if found.state == "unreachable":
        return [
            fail(
                what,
                found.reason or f"cannot reach {where}",
                "check [ami] host/port and that Asterisk runs (manager.conf [general] "
                "enabled = yes, bindaddr, port)",
            )
        ]
    if found.state == "login_refused":
        return [
            fail(
                what,
                f"{where} refused the login of {ami.username!r}",
                f"the secret must equal manager.conf [{ami.username}] secret (set it as "
                f"CALLBACK_DESK_AMI_SECRET in {DEFAULT_ENV_FILE}), and permit must allow this host",
            )
        ]
    if found.state != "connected":
        return [fail(what, f"{where} did not answer within the timeout", "is it Asterisk's AMI?")]
    checks = [ok(what, f"logged in to {where} as {ami.username!r}")]
    more = sorted(
        name
        for name, privs in found.commands.items()
        if privs and privs != {"<none>"} and not privs & NEEDED_WRITE
    )
    if "coreshowchannels" not in found.commands:
        checks.append(
            fail(
                "AMI write class",
                "the account cannot run CoreShowChannels (needed after a reconnect)",
                f"write = reporting in manager.conf [{ami.username}], then manager reload",
            )
        )
    elif more:
        checks.append(
            fail(
                "AMI write class",
                f"the account may also run {', '.join(more[:4])}"
                f"{' and more' if len(more) > 4 else ''}: more than the listener needs",
                f"write = reporting (only) in manager.conf [{ami.username}], then manager reload",
            )
        )
    else:
        checks.append(ok("AMI write class", "reporting only (CoreShowChannels, ShowDialPlan)"))
    if found.fully_booted is None:
        checks.append(
            fail(
                "AMI events",
                "no FullyBooted after login: the account lacks read = system or a filter drops it",
                f"read = system,call,dialplan,agent in manager.conf [{ami.username}], and "
                "eventfilter(action(include),name(FullyBooted)) = if it has include filters",
            )
        )
    else:
        checks.append(ok("AMI events", "FullyBooted arrives after login (read = system)"))
    return checks


def manager_file_checks(settings: Settings, options: DoctorOptions, local: bool) -> list[Check]:
    what = "manager.conf"
    path = options.asterisk_etc / "manager.conf"
    if not local:
        return [skip(what, f"the PBX is not on this host ({settings.ami.host}); not read")]
    try:
        conf = manager_conf.load(path)
    except PermissionError:
        return [skip(what, f"{path} is not readable by this user", "run the doctor as root")]
    except OSError as exc:
        return [skip(what, f"{path}: {os_reason(exc)}", "--asterisk-etc DIR if it lives elsewhere")]
    checks = []
    # The login's FullyBooted never carries a Timestamp (Asterisk appends it by hand), and an
    # idle PBX sends nothing else: the setting is read here.
    if conf.general.get("timestampevents", "no").lower() in ("yes", "true", "on", "1"):
        checks.append(ok("AMI timestampevents", "yes: call times come from the PBX clock"))
    else:
        checks.append(
            fail(
                "AMI timestampevents",
                f"not set in [general] of {path}: call times would be the listener's clock",
                "timestampevents = yes in [general] of manager.conf, then manager reload",
            )
        )
    user = settings.ami.username
    account = conf.accounts.get(user)
    if account is None:
        return [
            *checks,
            fail(
                what,
                f"no [{user}] account in {path} or its includes",
                "add [callbackdesk] from `callback-desk sample manager.conf` (FreePBX: "
                "manager_custom.conf), then manager reload",
            ),
        ]
    missing, extra = NEEDED_READ - account.read, account.read - ALLOWED_READ
    if missing or extra:
        problem = (
            f"read lacks {','.join(sorted(missing))}"
            if missing
            else f"read also grants {','.join(sorted(extra))}: more than the listener needs"
        )
        checks.append(
            fail(
                "AMI read classes",
                f"[{user}] {problem}",
                f"read = system,call,dialplan,agent in [{user}], then manager reload",
            )
        )
    else:
        checks.append(ok("AMI read classes", f"[{user}] read = {','.join(sorted(account.read))}"))
    dropped = [e for e in SAMPLE_EVENTS if not account.passes(e)]
    if dropped:
        names = sorted({_label(e) for e in dropped})
        checks.append(
            fail(
                "AMI event filters",
                f"[{user}]'s eventfilter lines drop {', '.join(names)}, which the listener reads",
                "use the eventfilter lines of `callback-desk sample manager.conf`, then "
                "manager reload",
            )
        )
    else:
        checks.append(
            ok(
                "AMI event filters",
                f"[{user}] passes every event the listener reads ({len(account.filters)} filters)",
            )
        )
    return checks


def _label(event: Mapping[str, str]) -> str:
    detail = event.get("variable") or event.get("eventname") or event.get("application")
    return f"{event['event']}({detail})" if detail else event["event"]


def dialplan_checks(agi: AgiSettings, found: AmiFindings) -> list[Check]:
    if found.state != "connected":
        return [skip("dialplan", "needs the AMI login")]
    checks = []
    entries = found.dialplan.get("feature", [])
    if not entries:
        checks.append(
            fail(
                "dialplan",
                f"no {agi.feature_code} extension is loaded ({found.errors.get('feature', '')})",
                "paste section A (FreePBX) or B of `callback-desk sample extensions.conf`, "
                "then fwconsole reload / dialplan reload",
            )
        )
    else:
        contexts = sorted({e.get("context", "?") for e in entries})
        checks.append(ok("dialplan", f"{agi.feature_code} is loaded in {', '.join(contexts)}"))
    for context in (agi.originate_context, FAILED_CONTEXT):
        if context in found.errors or not found.dialplan.get(context):
            checks.append(
                fail(
                    "dialplan",
                    f"context {context!r} is not loaded",
                    f"paste [{context}] from `callback-desk sample extensions.conf` (or set [agi] "
                    "originate_context to yours), then fwconsole reload / dialplan reload",
                )
            )
        else:
            checks.append(ok("dialplan", f"context {context!r} is loaded"))
    return checks


def freepbx_cid_checks(agi: AgiSettings, options: DoctorOptions, local: bool) -> list[Check]:
    """A FreePBX trunk that forces its caller ID shows it instead of the neutral number."""
    if agi.dial_mode != "freepbx":
        return []
    what = "FreePBX caller ID"
    path = options.asterisk_etc / freepbx.ADDITIONAL
    if not local:
        return [skip(what, "the PBX is not on this host; its trunks' CID options are not read")]
    try:
        text = path.read_text(errors="replace")
    except PermissionError:
        return [skip(what, f"{path} is not readable by this user", "run the doctor as root")]
    except OSError as exc:
        return [skip(what, f"{path}: {os_reason(exc)}", "--asterisk-etc DIR if it lives elsewhere")]
    forced = freepbx.defeating(text, agi.callback_number)
    if not forced:
        return [ok(what, "no trunk forces its caller ID: callbacks show the neutral number")]
    return [
        fail(
            what,
            f"trunk {f.trunk} forces caller ID {f.callerid} (Force Trunk CID): a callback "
            f"through it shows that, not {agi.callback_number or 'the neutral number'}",
            f"Connectivity > Trunks > trunk {f.trunk} > CID Options: Allow Any CID (or make "
            "the neutral number its Outbound CallerID), then Apply Config",
        )
        for f in forced
    ]


def agi_target(agi: AgiSettings, found: AmiFindings) -> tuple[str, str, int]:
    """('fast', host, port) or ('classic', script, 0), from the feature code's AGI() line."""
    for entry in found.dialplan.get("feature", []):
        if entry.get("application", "").lower() != "agi":
            continue
        data = entry.get("appdata", "")
        url = re.match(r"agi://([^/:,]+)(?::(\d+))?", data)
        if url:
            return "fast", url.group(1), int(url.group(2) or 4573)
        return "classic", data.split(",")[0], 0
    return "fast", agi.listen_host, agi.listen_port


async def agi_checks(
    settings: Settings, agi: AgiSettings, found: AmiFindings, options: DoctorOptions
) -> list[Check]:
    mode, host, port = agi_target(agi, found)
    if mode == "fast":
        try:
            async with asyncio.timeout(options.timeout):
                _reader, writer = await asyncio.open_connection(host, port)
            writer.close()
            await writer.wait_closed()
        except (OSError, TimeoutError) as exc:
            reason = os_reason(exc) if isinstance(exc, OSError) else "timed out"
            return [
                fail(
                    "FastAGI",
                    f"nothing answers on {host}:{port} ({reason})",
                    "systemctl enable --now callback-desk-agi (journalctl -u callback-desk-agi)",
                )
            ]
        return [ok("FastAGI", f"{host}:{port} answers")]
    script = Path(host) if host.startswith("/") else options.agi_script.parent / host
    if not script.exists():
        return [
            fail("classic AGI", f"{script} does not exist", "docs/calling-back.md, 'Classic AGI'")
        ]
    if not script.stat().st_mode & stat.S_IXOTH:
        return [fail("classic AGI", f"{script} is not executable", f"chmod 755 {script}")]
    try:
        # The classic script loads the desk side's own secrets (docs/calling-back.md).
        agi_env = options.env_file.parent / "agi.env"
        readers = [p for p in (settings.path, agi_env) if p and p.exists()]
        blocked = [str(p) for p in readers if not readable_by(p, "asterisk")]
    except KeyError:
        return [skip("classic AGI", "there is no 'asterisk' user on this host")]
    if blocked:
        return [
            fail(
                "classic AGI",
                f"the asterisk user cannot read {', '.join(blocked)}",
                "usermod -aG callback-desk asterisk (config) and chgrp asterisk agi.env, then "
                "restart Asterisk",
            )
        ]
    return [ok("classic AGI", f"{script} is executable and the asterisk user can read its config")]


async def smtp_check(settings: Settings, timeout: float) -> Check:
    if not report_settings(settings).recipients:
        return skip("SMTP", "no [report] email_to or [report.recipients]: email not configured")
    smtp = smtp_settings(settings)
    try:
        async with asyncio.timeout(timeout * 3):
            done = await asyncio.to_thread(check_blocking, smtp)
    except (MailError, ConfigError) as exc:
        return fail("SMTP", str(exc), "check [smtp] host, port, security, ca_file, username")
    except TimeoutError:
        return fail("SMTP", f"{smtp.host}:{smtp.port} did not answer", "check [smtp] host/port")
    return ok("SMTP", done)


async def database_check(settings: Settings) -> Check:
    try:
        store = await Store.open(settings.database, max_size=1)
        try:
            await store.check_schema()
        finally:
            await store.close()
    except CallbackDeskError as exc:
        behind = "callback-desk migrate" in str(exc)
        return fail(
            "database",
            str(exc),
            "callback-desk migrate"
            if behind
            else f"check [database] dsn (CALLBACK_DESK_DATABASE_DSN in {DEFAULT_ENV_FILE}) and "
            "that PostgreSQL runs; docs/install.md",
        )
    return ok("database", "reachable, schema current")


# -- the whole run -------------------------------------------------------------------------------


def _local(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


async def run(options: DoctorOptions, environ: Mapping[str, str], out: TextIO) -> int:
    results: list[Check] = []

    def report(*checks: Check) -> None:
        for check in checks:
            results.append(check)
            out.write(check.line() + "\n")
            out.flush()

    path = config_path(options, environ)
    if path.is_file():
        report(ok("config file", str(path)))
        report(permissions(path, "config file"))
    else:
        report(
            fail(
                "config file",
                f"no file at {path}",
                f"callback-desk sample callback-desk.toml > {path} && chgrp callback-desk "
                f"{path} && chmod 640 {path}",
            )
        )
    merged = dict(environ)
    if options.env_file.is_file():
        try:
            merged = {**read_env_file(options.env_file), **environ}
            report(ok("secrets file", str(options.env_file)))
        except (OSError, UnicodeDecodeError) as exc:
            report(fail("secrets file", f"{options.env_file}: {exc}", "run the doctor as root"))
        report(permissions(options.env_file, "secrets file"))
    else:
        report(skip("secrets file", f"no {options.env_file}: secrets must be in the config file"))

    try:
        # Run as root (the config's owner) after an edit, it also keeps the parsed snapshot the
        # classic AGI reads instead of parsing TOML at every *47 (callback_desk.core.snapshot).
        settings = Settings.load(path if path.is_file() else None, merged, keep_snapshot=True)
        agi = load_agi(settings)
        report_settings(settings)
        smtp_settings(settings)
    except ConfigError as exc:
        report(fail("config syntax", str(exc), "correct that key (docs/configure.md)"))
        report(skip("everything else", "needs a valid configuration"))
        return summary(results, out)
    report(ok("config syntax", "every section parses"))
    report(await database_check(settings))
    if settings.ami.secret is None:
        report(
            fail(
                "AMI login",
                "[ami] secret is not set",
                f"CALLBACK_DESK_AMI_SECRET=... in {options.env_file}",
            )
        )
        found = AmiFindings(state="no_secret")
    else:
        found = await probe_ami(settings, agi, options.timeout)
        report(*ami_checks(settings, found))
    report(*manager_file_checks(settings, options, _local(settings.ami.host)))
    report(*dialplan_checks(agi, found))
    report(*freepbx_cid_checks(agi, options, _local(settings.ami.host)))
    report(*await agi_checks(settings, agi, found, options))
    # The classic AGI runs as asterisk and reads the desk side's login: then asterisk reads it.
    classic = agi_target(agi, found)[0] == "classic"
    report(*secret_checks(settings, agi, options, classic=classic))
    report(await smtp_check(settings, options.timeout))
    return summary(results, out)


def summary(results: list[Check], out: TextIO) -> int:
    """Exit code: 0 all passed, 1 something failed, 2 a secret others may replace."""
    failed = sum(1 for c in results if c.status == "fail")
    out.write(
        f"{failed} of {len(results)} checks failed\n" if failed else "Everything checked is fine.\n"
    )
    if any(c.refuse for c in results):
        return 2
    return 1 if failed else 0


def secret_checks(
    settings: Settings, agi: AgiSettings, options: DoctorOptions, classic: bool = False
) -> list[Check]:
    """Each secret of the install (core.layout) readable by its readers only (with the classic
    AGI, ``asterisk`` reads the desk side's secrets file too)."""
    accounts = Accounts.read(Path("/"))
    web_path = settings.section("web").text("secret_file", "") or str(layout.WEB_SECRET)
    specs = layout.secret_files(
        PurePosixPath(str(agi.secret_file or layout.AGI_SECRET)),
        PurePosixPath(web_path),
        pbx_local="asterisk" in accounts.users,
    )
    checks = []
    for spec in specs:
        # The secrets files live beside the one --env-file names (the services' own paths).
        path = (
            options.env_file.parent / spec.path.name
            if spec.path.parent == layout.ETC and spec.path.suffix == ".env"
            else Path(spec.path)
        )
        what = f"secret {spec.path.name}"
        try:
            st = path.stat()
        except FileNotFoundError:
            checks.append(skip(what, f"no {path}"))
            continue
        except PermissionError:
            checks.append(skip(what, f"{path} cannot be looked at by this user", "run as root"))
            continue
        if classic and spec.path == layout.BY_NAME["agi"].env_file:
            spec = replace(spec, readers=spec.readers | {layout.ASTERISK})
        found = secrets.judge(spec, path, st, accounts)
        if found.ok:
            checks.append(ok(what, found.detail))
        else:
            checks.append(Check("fail", what, found.detail, found.fix, refuse=found.refuse))
    return checks
