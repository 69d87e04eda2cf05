"""What ``install`` would do on a system, and what ``uninstall`` would undo. Pure.

``plan_install`` turns the detected system, the options and the secrets (read from the files
that hold them, or freshly generated) into a tuple of actions; the executor decides, per
action, whether it changes anything. ``plan_uninstall`` turns the manifest install wrote into
the actions that remove exactly that.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from agi.config import load as load_agi
from callback_desk.core import layout
from callback_desk.core.config import PbxSettings, Secret, Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.install import actions as a
from callback_desk.install import render
from callback_desk.install.system import System, dialplan_file, manager_file

SYSTEMD_DIR = PurePosixPath("/etc/systemd/system")
CRON_FILE = PurePosixPath("/etc/cron.d/callback-desk")
LINK = PurePosixPath("/usr/local/bin/callback-desk")
PLAIN_DIALPLAN = "callback-desk.conf"
# The sample's AMI account names; [ami] username and [agi] ami_username may rename them.
SAMPLE_LISTENER_ACCOUNT = "callbackdesk"
SAMPLE_CALL_ACCOUNT = "callbackdesk-call"
# Services that keep running (restarted on upgrade); the others are started by timers.
RUNNING = tuple(c for c in layout.COMPONENTS if not c.timer)


@dataclass(frozen=True)
class Samples:
    """The texts install starts from (shipped with the program: deploy/, the two samples)."""

    config: str
    manager: str
    extensions: str
    units: Mapping[str, str]  # file name -> text (*.service, *.timer)
    cron: str


@dataclass(frozen=True)
class InstallOptions:
    root: Path = Path("/")
    dry_run: bool = False
    database: str = layout.DATABASE
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    with_database: bool = True  # False under --root without --pg-admin
    # How to run an Asterisk CLI command ("asterisk -rx"); None: no reload (--root)
    asterisk_cli: tuple[str, ...] | None = ("asterisk", "-rx")
    systemctl: bool = True  # False: units are written but not enabled (no systemctl)
    # Values for a new config (an existing config is never changed)
    callback_number: str | None = None
    callback_name: str | None = None
    trunk: str | None = None
    desk_context: str | None = None
    desk_channel: str | None = None
    timezone: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Secrets:
    """Every secret install writes, from the file that holds it or freshly generated."""

    ami_listener: Secret
    ami_call: Secret
    agi: Secret
    web: Secret
    logins: Mapping[str, tuple[str, Secret]]  # component -> (login, password)
    new: frozenset[str] = field(default_factory=frozenset)  # which were generated

    def values(self) -> list[str]:
        logins = [password for _login, password in self.logins.values()]
        return [s.reveal() for s in (self.ami_listener, self.ami_call, self.agi, self.web, *logins)]


@dataclass(frozen=True)
class Config:
    """The config install leaves in place: its text and what install reads from it."""

    text: str
    new: bool
    settings: Settings
    shown: str  # what is said about it: the values install set in a new one
    agi_secret: PurePosixPath
    web_secret: PurePosixPath
    listener_account: str
    call_account: str
    dialplan: render.DialplanValues
    timezone: str


def _inbound(system: System) -> tuple[str, ...]:
    """Where trunk calls enter: [pbx] inbound_contexts' default (a new config keeps it)."""
    return PbxSettings.inbound_contexts


def _one(found: Sequence[str], what: str, option: str) -> str:
    if len(found) == 1:
        return found[0]
    listed = ", ".join(sorted(found)) or "none"
    raise ConfigError(f"cannot tell {what} from pjsip.conf (found: {listed}); use {option}")


def new_config(
    system: System, options: InstallOptions, samples: Samples
) -> tuple[str, dict[tuple[str, str], str]]:
    """The config written from the sample when there is none yet, and the values set in it."""
    values: dict[tuple[str, str], str] = {
        ("database", "dsn"): render.toml_string(
            f"postgresql://{options.db_host}:{options.db_port}/{options.database}"
        ),
        ("pbx", "timezone"): render.toml_string(options.timezone or system.timezone),
    }
    if options.country:
        values["pbx", "country"] = render.toml_string(options.country.upper())
    host, port = _ami_address(system)
    if (host, port) != ("127.0.0.1", 5038):
        values["ami", "host"] = render.toml_string(host)
        values["ami", "port"] = str(port)
    if options.callback_number:
        values["agi", "callback_number"] = render.toml_string(options.callback_number)
    if options.callback_name:
        values["agi", "callback_name"] = render.toml_string(options.callback_name)
    if system.pbx == "asterisk":
        inbound = _inbound(system)
        trunk = options.trunk or _one(
            [e for e, c in system.endpoints.items() if c in inbound],
            "the trunk (an endpoint whose context is from-pstn or from-trunk)",
            "--trunk ENDPOINT",
        )
        values["agi", "dial_mode"] = render.toml_string("template")
        values["agi", "dial_template"] = render.toml_string(f"PJSIP/{{number}}@{trunk}")
        values["agi", "desk_channel"] = render.toml_string(
            options.desk_channel or "PJSIP/{extension}"
        )
    elif options.desk_channel:
        values["agi", "desk_channel"] = render.toml_string(options.desk_channel)
    if not system.has_asterisk_user:
        # No Asterisk on this host to tell apart from other local users.
        values["agi", "peer_user"] = render.toml_string("")
    return render.config_text(samples.config, values), values


def _ami_address(system: System) -> tuple[str, int]:
    """Where this PBX's AMI listens (manager.conf [general]), as the listener reaches it."""
    general = system.manager_general
    if system.pbx == "none" or general.get("enabled", "no").lower() not in ("yes", "true", "1"):
        return "127.0.0.1", 5038  # off until install turns it on, for this host only
    host = general.get("bindaddr", "0.0.0.0")
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    port = general.get("port", "5038")
    return host, int(port) if port.isdigit() else 5038


def read_config(text: str, new: bool, where: str, shown: str = "") -> Config:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from exc
    settings = Settings.from_mapping(data, environ={})
    agi = load_agi(settings)
    web = data.get("web", {})
    web_secret = web.get("secret_file") if isinstance(web, dict) else None
    agi_secret = agi.secret_file
    return Config(
        text=text,
        new=new,
        settings=settings,
        shown=shown,
        agi_secret=PurePosixPath(str(agi_secret)) if agi_secret else layout.AGI_SECRET,
        web_secret=PurePosixPath(web_secret) if isinstance(web_secret, str) else layout.WEB_SECRET,
        listener_account=settings.ami.username,
        call_account=agi.ami_username or settings.ami.username,
        dialplan=render.DialplanValues(
            secret_file=str(agi_secret or layout.AGI_SECRET),
            host=agi.listen_host,
            port=agi.listen_port,
            feature_code=agi.feature_code,
            originate_context=agi.originate_context,
        ),
        timezone=str(settings.pbx.timezone),
    )


def config(system: System, options: InstallOptions, samples: Samples) -> Config:
    if system.existing_config is not None:
        return read_config(system.existing_config, False, str(system.path(layout.CONFIG)))
    text, values = new_config(system, options, samples)
    shown = "\n".join(f"[{section}] {key} = {value}" for (section, key), value in values.items())
    return read_config(text, True, "the new config", "from the sample, with:\n" + shown)


def _env(component: layout.Component, secrets: Secrets, options: InstallOptions) -> a.EnvFile:
    login, password = secrets.logins[component.name]
    dsn = (
        f"postgresql://{login}:{password.reveal()}@{options.db_host}:{options.db_port}/"
        f"{options.database}"
    )
    values: list[tuple[str, Secret]] = [("CALLBACK_DESK_DATABASE_DSN", Secret(dsn))]
    if component.name == "listener":
        values.append(("CALLBACK_DESK_AMI_SECRET", secrets.ami_listener))
    if component.name in ("agi", "web"):
        values.append(("CALLBACK_DESK_AGI_AMI_SECRET", secrets.ami_call))
    header = (
        f"# {component.unit}'s secrets (systemd's EnvironmentFile=; cron: set -a; . this file).\n"
        "# KEY=value, one per line. Written by callback-desk install, which adds missing keys\n"
        "# and never replaces a value."
    )
    if component.name == "report":
        header += "\n# Mail server password, if it needs one:\n# CALLBACK_DESK_SMTP_PASSWORD="
    return a.EnvFile(
        path=component.env_file,
        owner=layout.ROOT_USER,
        group=component.user,
        mode=0o640,
        values=tuple(values),
        header=header,
        why=f"{component.name}'s database login" + (" and AMI secret" if len(values) > 1 else ""),
    )


def _secret_file(spec: layout.SecretFile, value: Secret) -> a.File:
    return a.File(
        path=spec.path,
        owner=spec.owner,
        group=spec.group,
        mode=spec.mode,
        content=Secret(value.reveal() + "\n"),
        shown=render.MASK,
        keep=True,
        why=spec.why,
    )


def plan_install(
    system: System, options: InstallOptions, samples: Samples, secrets: Secrets, cfg: Config
) -> tuple[a.Action, ...]:
    plan: list[a.Action] = []
    pbx_local = system.pbx != "none" and system.has_asterisk_user
    # -- users: each service its own, all in the config's group -------------------------------
    plan.append(a.Group(layout.CONFIG_GROUP, "reads the config file (no secrets in it)"))
    plan.append(a.Group(layout.WEB_KEY_GROUP, "reads the inbox's signing key (web, report)"))
    for component in layout.COMPONENTS:
        groups = [layout.CONFIG_GROUP]
        if component.name in ("web", "report"):
            groups.append(layout.WEB_KEY_GROUP)
        plan.append(
            a.User(component.user, tuple(groups), f"the {component.name} service ({component.why})")
        )
    # -- files -----------------------------------------------------------------------------------
    plan.append(
        a.Directory(
            layout.ETC,
            layout.ROOT_USER,
            layout.CONFIG_GROUP,
            0o751,
            "config and secrets; others may pass through (asterisk reads agi-secret)",
        )
    )
    plan.append(
        a.Directory(
            layout.STATE,
            layout.BY_NAME["listener"].user,
            layout.BY_NAME["listener"].user,
            0o700,
            "the listener's spool",
        )
    )
    specs = {
        s.path: s for s in layout.secret_files(cfg.agi_secret, cfg.web_secret, pbx_local=pbx_local)
    }
    plan.append(_secret_file(specs[cfg.agi_secret], secrets.agi))
    plan.append(_secret_file(specs[cfg.web_secret], secrets.web))
    for component in layout.COMPONENTS:
        plan.append(_env(component, secrets, options))
    plan.append(
        a.File(
            path=layout.CONFIG,
            owner=layout.ROOT_USER,
            group=layout.CONFIG_GROUP,
            mode=0o640,
            content=Secret(cfg.text),
            shown=cfg.shown,
            keep=True,
            why="the settings (from deploy/callback-desk.toml.sample; yours are kept)",
        )
    )
    # -- the database ------------------------------------------------------------------------------
    if options.with_database:
        plan += _database(options, secrets)
    else:
        plan.append(a.Skip("the database", "--root without --pg-admin: files only"))
    # -- the PBX -----------------------------------------------------------------------------------
    plan += _pbx(system, options, samples, secrets, cfg)
    # -- services --------------------------------------------------------------------------------
    plan += _services(system, options, samples, cfg)
    if system.program != str(LINK):
        plan.append(a.Link(LINK, system.program, "callback-desk on root's PATH"))
    return tuple(plan)


def _database(options: InstallOptions, secrets: Secrets) -> list[a.Action]:
    # The owner is named after the database: two installs in one cluster stay apart.
    owner = options.database
    steps: list[a.Action] = [
        a.DbRole(owner, why="owns the schema; nobody logs in as it (install migrates as it)"),
        a.Database(options.database, owner, "the call records"),
        a.DbGroupRoles(),
        a.Migrate(options.database, owner),
        a.Grants(options.database, owner),
    ]
    for component in layout.COMPONENTS:
        login, password = secrets.logins[component.name]
        steps.append(
            a.DbRole(login, password, component.db_role, f"the {component.name} service's login")
        )
    return steps


def _pbx(
    system: System, options: InstallOptions, samples: Samples, secrets: Secrets, cfg: Config
) -> list[a.Action]:
    if system.pbx == "none":
        return [
            a.Skip(
                "the PBX's AMI accounts and dialplan",
                f"no Asterisk in {system.asterisk_etc} (a PBX on another host: add "
                "manager.conf.sample's accounts and extensions.conf.sample there)",
            )
        ]
    for account in (cfg.listener_account, cfg.call_account):
        if account in system.foreign_accounts:
            raise ConfigError(
                f"{system.foreign_accounts[account]} already has an AMI account [{account}] "
                "that callback-desk install did not add: remove it (install adds its own), or "
                "name ours otherwise ([ami] username, [agi] ami_username)"
            )
    for context in (cfg.dialplan.originate_context, "callback-desk-failed"):
        if context in system.foreign_contexts:
            raise ConfigError(
                f"{system.foreign_contexts[context]} already has a [{context}] context that "
                "callback-desk install did not add (pasted from extensions.conf.sample?): "
                "remove it, install adds its own"
            )
    owner = "asterisk" if system.has_asterisk_user else layout.ROOT_USER
    group = "asterisk" if "asterisk" in system.accounts.groups else layout.ROOT_USER
    steps: list[a.Action] = []
    manager = manager_file(system.pbx, system.asterisk_etc)
    body = render.manager_accounts(
        samples.manager,
        {SAMPLE_LISTENER_ACCOUNT: cfg.listener_account, SAMPLE_CALL_ACCOUNT: cfg.call_account},
        {
            SAMPLE_LISTENER_ACCOUNT: secrets.ami_listener.reveal(),
            SAMPLE_CALL_ACCOUNT: secrets.ami_call.reveal(),
        },
    )
    general = _manager_general(system)
    if general:
        body = [
            "; AMI itself, as the listener needs it ([general] is extended, not replaced).",
            "[general](+)",
            *general,
            "",
            *body,
        ]
    text = "\n".join(body)
    steps.append(
        a.Block(
            manager,
            Secret(text),
            render.mask(text, secrets.values()),
            (owner, group, 0o640),
            "the listener's and click-to-call's AMI accounts (manager.conf.sample)",
        )
    )
    changed = [str(manager)]
    if system.pbx == "freepbx":
        dialplan = "\n".join(render.freepbx_dialplan(samples.extensions, cfg.dialplan))
        target = dialplan_file("freepbx", system.asterisk_etc)
        steps.append(
            a.Block(
                target,
                Secret(dialplan),
                dialplan,
                (owner, group, 0o640),
                "*47 and click-to-call (extensions.conf.sample, part A)",
            )
        )
        changed.append(str(target))
    else:
        desk_context = options.desk_context or _one(
            sorted({c for c in system.endpoints.values() if c not in _inbound(system)}),
            "the desk phones' context",
            "--desk-context NAME",
        )
        text = plain_text = render.plain_dialplan(samples.extensions, cfg.dialplan, desk_context)
        ours = system.asterisk_etc / PLAIN_DIALPLAN
        steps.append(
            a.File(
                ours,
                layout.ROOT_USER,
                group,
                0o640,
                Secret(plain_text),
                text,
                why=f"*47 in [{desk_context}] and click-to-call (extensions.conf.sample)",
            )
        )
        include = f"#include {PLAIN_DIALPLAN}"
        extensions = dialplan_file("asterisk", system.asterisk_etc)
        steps.append(
            a.Block(
                extensions,
                Secret(include),
                include,
                (owner, group, 0o640),
                "includes our dialplan",
            )
        )
        changed += [str(ours), str(extensions)]
    steps.append(reload(system, options, tuple(changed)))
    return steps


def reload(system: System, options: InstallOptions, after: tuple[str, ...]) -> a.Action:
    """Asterisk reads what changed. On FreePBX too, Asterisk's own two reloads rather than
    ``fwconsole reload``: that would also apply whatever the admin changed in the GUI and has
    not applied yet, a surprise; the files we write are read by Asterisk directly."""
    if options.asterisk_cli is None:
        return a.Skip("reloading Asterisk", "--root: reload it afterwards")
    cli = options.asterisk_cli
    argv = ((*cli, "manager reload"), (*cli, "dialplan reload"))
    return a.Command(argv, after, "reload Asterisk's AMI and dialplan")


def _manager_general(system: System) -> list[str]:
    """[general] lines the listener needs that manager.conf does not have yet."""
    general = system.manager_general
    lines = []

    def yes(key: str) -> bool:
        return general.get(key, "no").lower() in ("yes", "true", "on", "1")

    if not yes("enabled"):
        # AMI was off, so nothing uses its address: on, for this host only (Asterisk's
        # default, and Debian's sample, is every address).
        lines += ["enabled = yes", "bindaddr = 127.0.0.1"]
    if not yes("timestampevents"):
        lines.append("timestampevents = yes   ; call times from the PBX's clock")
    return lines


def _services(
    system: System, options: InstallOptions, samples: Samples, cfg: Config
) -> list[a.Action]:
    steps: list[a.Action] = []
    if system.init == "systemd":
        paths = []
        for name, template in sorted(samples.units.items()):
            component = layout.BY_NAME[name.removeprefix("callback-desk-").split(".")[0]]
            path = SYSTEMD_DIR / name
            text = render.units_text(template, system.program, component.user, cfg.timezone)
            steps.append(
                a.File(path, layout.ROOT_USER, layout.ROOT_USER, 0o644, Secret(text), "",
                       why=f"deploy/{name}, run as {component.user}")
            )  # fmt: skip
            paths.append(str(path))
        enabled = tuple(c.unit for c in RUNNING) + tuple(
            c.unit.replace(".service", ".timer") for c in layout.COMPONENTS if c.timer
        )
        on_this_host = options.root == Path("/")
        if options.systemctl:
            if on_this_host:
                steps.append(
                    a.Command(
                        (("systemctl", "daemon-reload"),), tuple(paths), "reload systemd's units"
                    )
                )
            steps.append(a.Units(enabled, start=on_this_host))
        else:
            steps.append(a.Skip("enabling the units", "no systemctl"))
        if on_this_host and options.systemctl:
            after = (*paths, "program", "database", *(str(c.env_file) for c in RUNNING))
            restart = ("systemctl", "try-restart", *(c.unit for c in RUNNING))
            steps.append(a.Command((restart,), (*after, str(layout.CONFIG)), "restart what runs"))
    else:
        text = render.cron_text(samples.cron, system.program, cfg.timezone)
        steps.append(
            a.File(CRON_FILE, layout.ROOT_USER, layout.ROOT_USER, 0o644, Secret(text), "",
                   why="deploy/callback-desk.cron: the morning report and the purge")
        )  # fmt: skip
        running = ", ".join(f"{c.user}: {system.program} {c.command}" for c in RUNNING)
        steps.append(
            a.Skip(
                "starting the services",
                f"no systemd: run them under your supervisor, each as its user ({running}, "
                f"--config {layout.CONFIG}, its environment from {layout.ETC}/<name>.env)",
            )
        )
    return steps


# -- uninstall -----------------------------------------------------------------------------------


def plan_uninstall(
    created: Sequence[Mapping[str, Any]],
    system: System,
    options: InstallOptions,
    drop_data: bool,
    database: str,
) -> tuple[a.Action, ...]:
    """Undo exactly what the manifest lists, services first, users last. Without
    ``drop_data`` the database (and the roles it needs) stays, and says so."""
    entries = list(reversed(created))

    def of(kind: str) -> list[Mapping[str, Any]]:
        return [e for e in entries if e.get("kind") == kind]

    on_this_host = options.root == Path("/")
    plan: list[a.Action] = []
    for entry in of("units"):
        plan.append(a.DisableUnits(tuple(entry["names"]), stop=on_this_host))
    blocks = [PurePosixPath(e["path"]) for e in of("block")]
    for entry in of("block"):
        plan.append(a.RemoveBlock(PurePosixPath(entry["path"]), bool(entry.get("created_file"))))
    asterisk = [
        PurePosixPath(e["path"])
        for e in of("file")
        if system.pbx != "none" and PurePosixPath(e["path"]).parent == system.asterisk_etc
    ]
    files = [e for e in of("file") if PurePosixPath(e["path"]) != layout.MANIFEST]
    for entry in files:
        path = PurePosixPath(entry["path"])
        if path in asterisk:
            plan.append(a.RemoveFile(path, str(entry.get("sha256", "")), force=drop_data))
    if blocks or asterisk:
        plan.append(reload(system, options, tuple(str(p) for p in blocks + asterisk)))
    for entry in files:
        path = PurePosixPath(entry["path"])
        if path not in asterisk:
            plan.append(a.RemoveFile(path, str(entry.get("sha256", "")), force=drop_data))
    for entry in of("link"):
        plan.append(a.RemoveLink(PurePosixPath(entry["path"]), str(entry["target"])))
    for entry in of("dir"):
        path = PurePosixPath(entry["path"])
        plan.append(a.RemoveDirectory(path, recursive=drop_data and path == layout.STATE))
    for entry in of("was"):
        plan.append(
            a.RestoreOwnership(
                PurePosixPath(entry["path"]),
                int(entry["uid"]),
                int(entry["gid"]),
                int(entry["mode"]),
            )
        )
    if not options.with_database:
        plan.append(a.Skip("the database", "--root without --pg-admin"))
    else:
        # Only what carries install's comment is dropped (executor): a login, database or
        # role someone else made is never touched.
        plan += [a.DropRole(c.login(database)) for c in layout.COMPONENTS]
        if drop_data:
            plan.append(a.DropDatabase(database))
            plan += [a.DropRole(r) for r in (database, *_group_roles())]
        else:
            plan.append(
                a.Keep(
                    f"database {database}",
                    "the call records, its owner and the cbd_* roles; "
                    "`callback-desk uninstall --drop-data` drops what install created",
                )
            )
    for entry in of("member"):
        plan.append(a.RemoveMember(str(entry["group"]), str(entry["user"])))
    for entry in of("user"):
        plan.append(a.RemoveUser(str(entry["name"])))
    for entry in of("group"):
        plan.append(a.RemoveGroup(str(entry["name"])))
    return tuple(plan)


def _group_roles() -> tuple[str, ...]:
    from callback_desk.core.roles import ROLES

    return ROLES
