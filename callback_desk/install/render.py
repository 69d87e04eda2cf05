"""The text the installer writes, from the samples the project ships. Pure: text in, text out.

Asterisk files get our lines between two marker lines that name the program and its version;
the same markers let a later ``install`` replace the block (an upgrade) and ``uninstall``
remove it, and nothing outside them is ever touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callback_desk.core.exceptions import ConfigError

PROGRAM = "callback-desk"
_BEGIN = re.compile(r"^;\s*>>>\s*callback-desk\s+(\S+?):")
_END = re.compile(r"^;\s*<<<\s*callback-desk\s*$")
# The sample units and cron file name the program and the time zone as installed by hand.
SAMPLE_PROGRAM = "/opt/callback-desk/.venv/bin/callback-desk"
SAMPLE_TIMEZONE = "America/New_York"
MASK = "********"


def begin_marker(version: str) -> str:
    return (
        f"; >>> {PROGRAM} {version}: added by `{PROGRAM} install`; `{PROGRAM} uninstall` removes it"
    )


END_MARKER = f"; <<< {PROGRAM}"


@dataclass(frozen=True)
class Block:
    start: int  # line index of the begin marker
    end: int  # line index of the end marker
    version: str


def find_block(text: str, where: str) -> Block | None:
    """Our block in ``text``; :class:`ConfigError` when the markers are unbalanced (someone
    edited them), because guessing where it ends could remove a line that is not ours."""
    found: Block | None = None
    start: tuple[int, str] | None = None
    for index, line in enumerate(text.splitlines()):
        begin = _BEGIN.match(line)
        if begin:
            if start is not None or found is not None:
                raise ConfigError(f"{where}: more than one '; >>> {PROGRAM}' line; fix it by hand")
            start = (index, begin.group(1))
        elif _END.match(line):
            if start is None:
                raise ConfigError(f"{where}: '{END_MARKER}' without its begin line; fix it by hand")
            found, start = Block(start[0], index, start[1]), None
    if start is not None:
        raise ConfigError(f"{where}: '; >>> {PROGRAM}' without its end line; fix it by hand")
    return found


def block_lines(text: str, where: str) -> list[str] | None:
    """The lines between our markers (None: no block)."""
    block = find_block(text, where)
    if block is None:
        return None
    return text.splitlines()[block.start + 1 : block.end]


def put_block(text: str, body: Sequence[str], version: str, where: str) -> str:
    """``text`` with our block holding ``body``: replaced where it is, else appended."""
    lines = text.splitlines()
    new = [begin_marker(version), *body, END_MARKER]
    block = find_block(text, where)
    if block is not None:
        lines[block.start : block.end + 1] = new
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend(new)
    return "\n".join(lines) + "\n"


def remove_block(text: str, where: str) -> str:
    """``text`` without our block (and without the blank line put_block added before it)."""
    block = find_block(text, where)
    if block is None:
        return text
    lines = text.splitlines()
    start = block.start
    if start > 0 and not lines[start - 1].strip() and block.end + 1 == len(lines):
        start -= 1
    del lines[start : block.end + 1]
    return "\n".join(lines) + "\n" if lines else ""


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` as shown on screen: every secret value replaced by asterisks."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


# -- the config file -------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for everything we write)."""
    return json.dumps(value, ensure_ascii=False)


def set_toml_key(text: str, section: str, key: str, literal: str) -> str:
    """``text`` with ``key = literal`` in ``[section]``: the key's line (or its commented-out
    example, ``# key = ...``) is replaced, keeping the comment after it; else the key is added
    at the end of the section, and the section at the end of the file."""
    lines = text.splitlines()
    header = re.compile(rf"^\[{re.escape(section)}\]\s*(#.*)?$")
    key_line = re.compile(rf"^(#\s*)?{re.escape(key)}\s*=\s*(.*)$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        lines += ["", f"[{section}]", f"{key} = {literal}"]
        return "\n".join(lines) + "\n"
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^\[[^\]]+\]", lines[i])),
        len(lines),
    )
    for i in range(start + 1, end):
        match = key_line.match(lines[i])
        if match:
            comment = _trailing_comment(match.group(2))
            lines[i] = f"{key} = {literal}" + (f"  {comment}" if comment else "")
            return "\n".join(lines) + "\n"
    last = end
    while last > start + 1 and not lines[last - 1].strip():
        last -= 1
    lines.insert(last, f"{key} = {literal}")
    return "\n".join(lines) + "\n"


def _trailing_comment(value: str) -> str:
    """The ``# ...`` after a TOML value (outside a string), or ''."""
    quote: str | None = None
    for i, ch in enumerate(value):
        if quote:
            if ch == quote and value[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return value[i:].strip()
    return ""


def config_text(sample: str, values: Mapping[tuple[str, str], str]) -> str:
    """The sample with each ``(section, key)`` set to its TOML literal."""
    text = sample
    for (section, key), literal in values.items():
        text = set_toml_key(text, section, key, literal)
    return text


# -- the secrets files -----------------------------------------------------------------------------


def env_values(text: str) -> dict[str, str]:
    """``KEY=value`` lines, as systemd's EnvironmentFile= and ``set -a; . FILE`` read ours."""
    values = {}
    for raw in text.splitlines():
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


def env_text(existing: str, values: Mapping[str, str], header: str) -> str:
    """``existing`` with every key of ``values`` that it lacks appended; nothing it has (an
    SMTP password added by hand, a changed DSN) is touched."""
    have = env_values(existing)
    missing = [(k, v) for k, v in values.items() if k not in have]
    lines = existing.splitlines() if existing else [header]
    lines += [f"{key}={value}" for key, value in missing]
    return "\n".join(lines) + "\n"


# -- Asterisk ------------------------------------------------------------------------------------


def manager_accounts(
    sample: str, names: Mapping[str, str], secrets: Mapping[str, str]
) -> list[str]:
    """The accounts of manager.conf.sample, renamed (``names``: sample name -> ours) and with
    their secrets, comments left out (the sample explains them)."""
    out: list[str] = []
    section: str | None = None
    for raw in sample.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            section = header.group(1)
            if section not in names:
                raise ConfigError(f"manager.conf.sample has an account [{section}] we do not know")
            out += ["", f"[{names[section]}]"] if out else [f"[{names[section]}]"]
            continue
        if section is None:
            continue
        if line.split("=")[0].strip() == "secret":
            out.append(f"secret = {secrets[section]}")
        else:
            out.append(line)
    return out


@dataclass(frozen=True)
class DialplanValues:
    """What the dialplan must agree on with ``[agi]``."""

    secret_file: str
    host: str
    port: int
    feature_code: str
    originate_context: str


_SECTION_HEADER = re.compile(r"^; -{20,}$")


def _sections(sample: str) -> dict[str, list[str]]:
    """extensions.conf.sample's parts: 'A' (FreePBX) and 'B' (plain), without their headers."""
    lines = sample.splitlines()
    parts: dict[str, list[str]] = {}
    current: str | None = None
    i = 0
    while i < len(lines):
        if _SECTION_HEADER.match(lines[i]) and i + 1 < len(lines):
            title = re.match(r"^; ([AB])\. ", lines[i + 1])
            if title:
                current = title.group(1)
                parts[current] = []
                i += 2
                while i < len(lines) and not _SECTION_HEADER.match(lines[i]):
                    i += 1
                i += 1
                continue
        if current is not None:
            parts[current].append(lines[i])
        i += 1
    if set(parts) != {"A", "B"}:
        raise ConfigError("extensions.conf.sample lacks its parts A and B")
    return parts


def _substitute(lines: Iterable[str], values: DialplanValues) -> list[str]:
    host = "127.0.0.1" if values.host in ("0.0.0.0", "::", "") else values.host
    out = []
    for line in lines:
        line = line.replace("/etc/callback-desk/agi-secret", values.secret_file)
        line = line.replace("agi://127.0.0.1:4573/", f"agi://{host}:{values.port}/")
        line = re.sub(r"^exten => \*47,", f"exten => {values.feature_code},", line)
        if line.startswith("[callback-desk-dial]"):
            line = f"[{values.originate_context}]"
        out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def freepbx_dialplan(sample: str, values: DialplanValues) -> list[str]:
    """Part A of extensions.conf.sample, for extensions_custom.conf."""
    return _substitute(_sections(sample)["A"], values)


def _paragraphs(lines: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [p for p in out if p]


def plain_dialplan(sample: str, values: DialplanValues, desk_context: str) -> str:
    """The file a plain Asterisk's extensions.conf includes: part B's feature code in the desk
    phones' context (Asterisk merges a context written in two places), and part A's
    click-to-call and failure contexts."""
    parts = _sections(sample)
    feature = next(p for p in _paragraphs(parts["B"]) if "[desk-phones]" in "\n".join(p))
    feature = [
        f"[{desk_context}]" if line.startswith("[desk-phones]") else line for line in feature
    ]
    contexts = [
        p
        for p in _paragraphs(parts["A"])
        if any(line.startswith(("[callback-desk-dial]", "[callback-desk-failed]")) for line in p)
    ]
    lines = ["; Callback Desk: the desk phones' feature code, click-to-call, the failure path.", ""]
    lines += ["; The feature code, in the context the desk phones dial from.", *feature]
    for paragraph in contexts:
        lines += ["", *paragraph]
    return "\n".join(_substitute(lines, values)) + "\n"


def units_text(template: str, program: str, user: str, timezone: str) -> str:
    """A unit of deploy/ as installed: our program's path, the service's user, the practice's
    time zone (timers)."""
    text = template.replace(SAMPLE_PROGRAM, program).replace(SAMPLE_TIMEZONE, timezone)
    text = re.sub(r"(?m)^User=.*$", f"User={user}", text)
    return re.sub(r"(?m)^Group=.*$", f"Group={user}", text)


def cron_text(template: str, program: str, timezone: str) -> str:
    return template.replace(SAMPLE_PROGRAM, program).replace(SAMPLE_TIMEZONE, timezone)
