"""The installer's pure parts: the marker blocks, the config written from the sample, the
secrets files' merge, the dialplan and AMI text taken from the samples, the plan's refusals
(the SCRAM verifier against PostgreSQL: tests/db/test_installer.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

import pytest

from agi.config import load as load_agi
from callback_desk.core import layout
from callback_desk.core.exceptions import ConfigError
from callback_desk.doctor import manager_conf
from callback_desk.install import actions as a
from callback_desk.install import plan as p
from callback_desk.install import render
from callback_desk.install.command import samples
from callback_desk.install.system import detect
from tests.install_support import server_root

ROOT = Path(__file__).resolve().parents[2]


# -- marker blocks -------------------------------------------------------------------------------


def test_a_block_is_appended_replaced_and_removed_leaving_the_rest_as_it_was() -> None:
    theirs = "[general]\nenabled = yes\n\n[admin]\nsecret = x\n"
    once = render.put_block(theirs, ["[ours]", "a = 1"], "1.0", "f")
    assert once.startswith(theirs) and "; >>> callback-desk 1.0:" in once
    assert render.block_lines(once, "f") == ["[ours]", "a = 1"]
    # An upgrade replaces the block in place, with the new version in the marker.
    twice = render.put_block(once, ["[ours]", "a = 2"], "2.0", "f")
    assert twice.count(">>> callback-desk") == 1 and "callback-desk 2.0:" in twice
    assert render.block_lines(twice, "f") == ["[ours]", "a = 2"]
    assert render.remove_block(twice, "f") == theirs


@pytest.mark.parametrize(
    "text",
    [
        "x\n; >>> callback-desk 1.0: added\n[ours]\n",  # no end
        "x\n[ours]\n; <<< callback-desk\n",  # no begin
        "; >>> callback-desk 1.0: a\n; <<< callback-desk\n; >>> callback-desk 1.0: b\n"
        "; <<< callback-desk\n",  # two
    ],
)
def test_unbalanced_markers_are_refused_rather_than_guessed(text: str) -> None:
    with pytest.raises(ConfigError, match="fix it by hand"):
        render.find_block(text, "manager.conf")


def test_mask_hides_every_secret_in_what_is_shown() -> None:
    assert (
        render.mask("secret = abc123\nother = abc", ["abc123"]) == "secret = ********\nother = abc"
    )


# -- the config ----------------------------------------------------------------------------------


def test_the_sample_gets_the_keys_install_sets_and_keeps_its_comments() -> None:
    sample = (ROOT / "deploy" / "callback-desk.toml.sample").read_text()
    text = render.config_text(
        sample,
        {
            ("agi", "callback_number"): '"+12125550100"',  # a commented-out example
            ("agi", "dial_mode"): '"template"',  # a set key with a comment after it
            ("agi", "withhold"): "false",  # not in the sample: added to the section
            ("smtp", "host"): '"mail.example.org"',  # no such section: added
        },
    )
    data = tomllib.loads(text)
    assert data["agi"]["callback_number"] == "+12125550100"
    assert data["agi"]["dial_mode"] == "template" and data["agi"]["withhold"] is False
    assert data["smtp"] == {"host": "mail.example.org"}
    assert 'dial_mode = "template"  # plain Asterisk' in text
    assert data["web"] == tomllib.loads(sample)["web"]


def test_secrets_files_gain_missing_keys_and_never_lose_a_value() -> None:
    existing = "# mine\nCALLBACK_DESK_DATABASE_DSN=postgresql://x\nCALLBACK_DESK_SMTP_PASSWORD=p\n"
    merged = render.env_text(
        existing,
        {"CALLBACK_DESK_DATABASE_DSN": "postgresql://new", "CALLBACK_DESK_AMI_SECRET": "s"},
        "# header",
    )
    assert merged.startswith(existing)
    assert render.env_values(merged) == {
        "CALLBACK_DESK_DATABASE_DSN": "postgresql://x",
        "CALLBACK_DESK_SMTP_PASSWORD": "p",
        "CALLBACK_DESK_AMI_SECRET": "s",
    }


# -- Asterisk text from the samples --------------------------------------------------------------

VALUES = render.DialplanValues(
    "/etc/callback-desk/agi-secret", "127.0.0.1", 4573, "*47", "cbd-dial"
)


def test_the_accounts_are_the_samples_with_their_own_names_and_secrets(tmp_path: Path) -> None:
    body = render.manager_accounts(
        (ROOT / "manager.conf.sample").read_text(),
        {"callbackdesk": "cbd", "callbackdesk-call": "cbd-call"},
        {"callbackdesk": "s1", "callbackdesk-call": "s2"},
    )
    path = tmp_path / "manager.conf"
    path.write_text("\n".join(body) + "\n")
    ours = manager_conf.load(path).accounts
    sample = manager_conf.load(ROOT / "manager.conf.sample").accounts
    assert set(ours) == {"cbd", "cbd-call"}
    for name, theirs in (("cbd", "callbackdesk"), ("cbd-call", "callbackdesk-call")):
        assert (ours[name].read, ours[name].write) == (sample[theirs].read, sample[theirs].write)
        assert ours[name].filters == sample[theirs].filters
    assert "secret = s1" in body and "secret = s2" in body


def test_freepbx_gets_part_a_and_plain_asterisk_the_feature_code_in_the_desks_context() -> None:
    sample = (ROOT / "extensions.conf.sample").read_text()
    freepbx = "\n".join(render.freepbx_dialplan(sample, VALUES))
    assert "[from-internal-custom]" in freepbx and "[cbd-dial]" in freepbx
    assert "[callback-desk-failed]" in freepbx and "[desk-phones]" not in freepbx
    plain = render.plain_dialplan(sample, VALUES, "desks")
    assert "[desks]\nexten => *47,1," in plain and "[cbd-dial]" in plain
    assert "[from-internal-custom]" not in plain and "[callback-desk-failed]" in plain
    for text in (freepbx, plain):
        assert text.count("FILE(/etc/callback-desk/agi-secret)") == 2
        assert text.count("agi://127.0.0.1:4573/") == 2
    moved = render.DialplanValues("/srv/cbd/secret", "0.0.0.0", 4600, "*48", "callback-desk-dial")
    text = render.plain_dialplan(sample, moved, "desks")
    assert "exten => *48,1," in text and "agi://127.0.0.1:4600/" in text
    assert "FILE(/srv/cbd/secret)" in text and "/etc/callback-desk" not in text


# -- the plan ------------------------------------------------------------------------------------


def _plan(root: Path, **options: object) -> tuple[a.Action, ...]:
    system = detect(root, config=layout.CONFIG, program="/opt/cbd/bin/callback-desk")
    install = p.InstallOptions(root=root, with_database=False, asterisk_cli=None, **options)  # type: ignore[arg-type]
    shipped = samples()
    cfg = p.config(system, install, shipped)
    from callback_desk.install.command import gather_secrets

    return p.plan_install(system, install, shipped, gather_secrets(system, cfg, "db"), cfg)


def test_the_plan_is_the_same_for_the_same_system() -> None:
    with server_root("asterisk") as root:
        first, second = _plan(root), _plan(root)
    shape = [(type(x).__name__, getattr(x, "path", getattr(x, "name", ""))) for x in first]
    assert shape == [(type(x).__name__, getattr(x, "path", getattr(x, "name", ""))) for x in second]
    kinds = {type(x).__name__ for x in first}
    assert {"User", "Group", "File", "EnvFile", "Block", "Directory"} <= kinds


def test_plain_asterisk_finds_its_trunk_and_desks_in_pjsip_conf() -> None:
    with server_root("asterisk") as root:
        plan = _plan(root)
    [config] = [x for x in plan if isinstance(x, a.File) and x.path == layout.CONFIG]
    data = tomllib.loads(config.content.reveal())
    assert data["agi"]["dial_template"] == "PJSIP/{number}@carrier"
    assert data["agi"]["dial_mode"] == "template"
    [dialplan] = [x for x in plan if isinstance(x, a.File) and x.path.name == "callback-desk.conf"]
    assert "[from-internal]\nexten => *47," in dialplan.content.reveal()


def test_an_ami_account_install_did_not_add_is_refused_not_overwritten() -> None:
    with server_root("asterisk") as root:
        manager = root / "etc/asterisk/manager.conf"
        manager.write_text(manager.read_text() + "\n[callbackdesk]\nsecret = hand-made\n")
        with pytest.raises(ConfigError, match=r"already has an AMI account \[callbackdesk\]"):
            _plan(root)


def test_a_pasted_dialplan_context_is_refused() -> None:
    with server_root("freepbx") as root:
        custom = root / "etc/asterisk/extensions_custom.conf"
        custom.write_text(custom.read_text() + "[callback-desk-dial]\nexten => _X!,1,NoOp()\n")
        with pytest.raises(ConfigError, match=r"\[callback-desk-dial\] context"):
            _plan(root)


def test_two_trunks_need_to_be_named() -> None:
    with server_root("asterisk") as root:
        pjsip = root / "etc/asterisk/pjsip.conf"
        pjsip.write_text(pjsip.read_text() + "\n[other](trunk)\naors = other\n")
        with pytest.raises(ConfigError, match=r"found: carrier, other\); use --trunk"):
            _plan(root)
        plan = _plan(root, trunk="other")
    [config] = [x for x in plan if isinstance(x, a.File) and x.path == layout.CONFIG]
    assert load_agi_text(config.content.reveal()).dial_template == "PJSIP/{number}@other"


def load_agi_text(text: str):
    return load_agi(p.read_config(text, True, "x").settings)


def test_every_secret_is_shown_masked() -> None:
    with server_root("freepbx") as root:
        plan = _plan(root)
    shown = "\n".join(str(getattr(x, "shown", "")) for x in plan)
    secret_values = [
        x.content.reveal().strip() for x in plan if isinstance(x, a.File) and x.shown == "********"
    ]
    assert len(secret_values) == 2
    for block in (x for x in plan if isinstance(x, a.Block)):
        for line in block.body.reveal().splitlines():
            if line.startswith("secret ="):
                assert line not in shown
    assert not any(value in shown for value in secret_values)


def test_the_uninstall_plan_undoes_the_manifest_users_last() -> None:
    created: list[dict[str, object]] = [
        {"kind": "group", "name": "callback-desk"},
        {"kind": "user", "name": "cbd-listener"},
        {"kind": "dir", "path": "/etc/callback-desk"},
        {"kind": "file", "path": "/etc/callback-desk/listener.env", "sha256": "x"},
        {"kind": "block", "path": "/etc/asterisk/manager.conf", "created_file": False},
    ]
    with server_root("asterisk") as root:
        system = detect(root, config=layout.CONFIG, program="/x")
    options = p.InstallOptions(root=root, asterisk_cli=("asterisk", "-rx"))
    plan = p.plan_uninstall(created, system, options, drop_data=False, database="callback_desk")
    kinds = [type(x).__name__ for x in plan]
    assert kinds.index("RemoveBlock") < kinds.index("Command") < kinds.index("RemoveFile")
    assert kinds.index("RemoveFile") < kinds.index("RemoveDirectory") < kinds.index("RemoveUser")
    assert kinds[-1] == "RemoveGroup" and "DropDatabase" not in kinds
    [keep] = [x for x in plan if isinstance(x, a.Keep)]
    assert keep.what == "database callback_desk"
    dropping = p.plan_uninstall(created, system, options, drop_data=True, database="callback_desk")
    assert any(isinstance(x, a.DropDatabase) for x in dropping)
    assert all(x.force for x in dropping if isinstance(x, a.RemoveFile))


def test_paths_are_the_layouts() -> None:
    assert {s.path for s in layout.secret_files()} >= {layout.AGI_SECRET, layout.WEB_SECRET}
    assert all(
        s.path.is_relative_to(PurePosixPath("/etc/callback-desk")) for s in layout.secret_files()
    )
