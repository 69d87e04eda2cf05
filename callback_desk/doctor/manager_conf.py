"""Asterisk's manager.conf as far as the doctor needs it. Pure: text in, values out.

What is read: ``[general] timestampevents``, and per account ``read``, ``write`` and the
``eventfilter`` lines, following ``#include``/``#tryinclude`` (FreePBX keeps its accounts in
manager_additional.conf and manager_custom.conf). Filters are evaluated as Asterisk does
(``main/manager.c``): with any include filter an event must match one; an event matching an
exclude filter is dropped. Two syntaxes: ``eventfilter = [!]REGEX`` over the whole event, and
since Asterisk 18.26/20.11/21.6/22.1 ``eventfilter(action(...),name(...),header(...),
method(...)) = VALUE``.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_CRITERION = re.compile(r"(\w+)\(([^)]*)\)")
_INCLUDE = re.compile(r"#\s*(try)?include\s+\"?([^\"]+?)\"?\s*$")


@dataclass(frozen=True)
class EventFilter:
    include: bool
    name: str | None  # event name (exact, case-insensitive); None: any event
    header: str | None  # None: the whole event text
    method: str  # regex | exact | starts_with | ends_with | contains | none
    value: str

    def matches(self, event: Mapping[str, str], text: str) -> bool:
        if self.name is not None and self.name.lower() != event.get("event", "").lower():
            return False
        if self.method == "none":
            return True
        subject = text if self.header is None else event.get(self.header.lower())
        if subject is None:
            return False
        tests: dict[str, Callable[[str], bool]] = {
            "regex": lambda s: re.search(self.value, s) is not None,
            "exact": lambda s: s == self.value,
            "starts_with": lambda s: s.startswith(self.value),
            "ends_with": lambda s: s.endswith(self.value),
            "contains": lambda s: self.value in s,
        }
        test = tests.get(self.method)
        return test(subject) if test is not None else False


@dataclass
class Account:
    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    filters: list[EventFilter] = field(default_factory=list)

    def passes(self, event: Mapping[str, str]) -> bool:
        """Would Asterisk send this event (lower-case header names) to this account?"""
        text = "".join(f"{k.title()}: {v}\r\n" for k, v in event.items())
        includes = [f for f in self.filters if f.include]
        if includes and not any(f.matches(event, text) for f in includes):
            return False
        return not any(f.matches(event, text) for f in self.filters if not f.include)


@dataclass
class ManagerConf:
    general: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def classes(value: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def parse_filter(key: str, value: str) -> EventFilter:
    """One ``eventfilter`` line (key as written, value after ``=``)."""
    if key.strip().lower() == "eventfilter":  # the legacy form: [!]REGEX over the event
        exclude = value.startswith("!")
        return EventFilter(not exclude, None, None, "regex", value[1:] if exclude else value)
    criteria = {k.lower(): v.strip() for k, v in _CRITERION.findall(key)}
    return EventFilter(
        include=criteria.get("action", "include").lower() != "exclude",
        name=criteria.get("name") or None,
        header=criteria.get("header") or None,
        method=criteria.get("method", "regex").lower(),
        value=value,
    )


def _strip_comment(line: str) -> str:
    out = []
    escaped = False
    for ch in line:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ";":
            break
        else:
            out.append(ch)
    return "".join(out).strip()


Filter = Callable[[Path, str], str]


def load(path: Path, text_filter: Filter | None = None) -> ManagerConf:
    """Read ``path`` and what it includes. Raises OSError when ``path`` itself cannot be read.
    ``text_filter`` sees each file's text first (the installer leaves out its own lines)."""
    conf = ManagerConf()
    _read(path, conf, section=None, depth=0, required=True, text_filter=text_filter)
    return conf


def _read(
    path: Path,
    conf: ManagerConf,
    section: str | None,
    depth: int,
    required: bool,
    text_filter: Filter | None = None,
) -> str | None:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        if required:
            raise
        return section
    if text_filter is not None:
        text = text_filter(path, text)
    conf.files.append(path)
    for raw in text.splitlines():
        include = _INCLUDE.match(raw.strip())
        if include and depth < 10:
            target = include.group(2).strip()
            pattern = target if target.startswith("/") else str(path.parent / target)
            for found in sorted(glob.glob(pattern)) or [pattern]:
                section = _read(
                    Path(found), conf, section, depth + 1, include.group(1) is None, text_filter
                )
            continue
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("["):
            section = line[1 : line.index("]")] if "]" in line else line[1:]
            if section != "general":
                conf.accounts.setdefault(section, Account())
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            continue
        key, value = key.strip(), value.lstrip(">").strip()
        if section == "general":
            conf.general[key.lower()] = value
            continue
        account = conf.accounts[section]
        if key.lower() == "read":
            account.read = classes(value)
        elif key.lower() == "write":
            account.write = classes(value)
        elif key.lower().startswith("eventfilter"):
            account.filters.append(parse_filter(key, value))
    return section
