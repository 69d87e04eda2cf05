"""The line a therapist says when a caller picks up: one source for the report, the email,
click-to-call and the inbox.

Neutral on purpose: the person who answers may not be the caller, and may be the reason the
caller hung up. Nothing here may hint at therapy, a practice or an appointment.
"""

from __future__ import annotations

from callback_desk.core.exceptions import ConfigError
from callback_desk.core.typeshim import TYPE_CHECKING

# string.Formatter().parse is _string's formatter_parser; the string module compiles a regex at
# import (its Template), a millisecond of the classic AGI's start, which reads [agi] settings.
if TYPE_CHECKING:
    from collections.abc import Iterator

    def formatter_parser(
        template: str, /
    ) -> Iterator[tuple[str, str | None, str | None, str | None]]: ...
else:
    from _string import formatter_parser

DEFAULT_OPENING_LINE = "Hi, this is {first_name}, I think I missed a call from this number earlier."
NAMELESS_OPENING_LINE = "Hi, I think I missed a call from this number earlier."


def opening_line(first_name: str, template: str = DEFAULT_OPENING_LINE) -> str:
    """The line for ``first_name``; without a name, the nameless line (never "this is ,")."""
    if not first_name:
        return NAMELESS_OPENING_LINE
    return template.format(first_name=first_name)


def check_template(template: str, where: str) -> str:
    """A practice's own opening line: ``{first_name}`` is the only placeholder it may use."""
    try:
        fields = {name for _, name, _, _ in formatter_parser(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{where} is not a valid template: {exc}") from exc
    if fields - {"first_name"}:
        raise ConfigError(f"{where} may only use {{first_name}}, not {{{sorted(fields)[0]}}}")
    return template
