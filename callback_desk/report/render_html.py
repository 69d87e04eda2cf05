"""HTML for a phone screen: one card per caller, the opening line, and the way to call back.

Every value that came from a caller goes through :func:`esc`. ``tel:`` links are off by default:
they dial from the device reading the report and show its own number, so the report points to
the callback inbox (masked, through the desk phone) instead. With ``[report] tel_links = true``
the href is built only from :func:`~callback_desk.report.model.e164` (a re-validated
``+digits`` key), never from the number as received, and says whose number the callee sees.
The page loads nothing from outside (no fonts, images or trackers).
"""

from __future__ import annotations

import html
from typing import Literal

from callback_desk.core.shown import line_of
from callback_desk.report import heatmap
from callback_desk.report.model import (
    Report,
    ReportCaller,
    WeekStats,
    e164,
    headline,
    how,
    masked_number,
    number_shown,
)
from callback_desk.report.render_text import clean, gap_sentences, span, week_sentences, when

HeatStyle = Literal["svg", "table"]

_STYLE = """
body{margin:0;padding:12px;font:16px/1.4 -apple-system,'Segoe UI',Roboto,sans-serif;
color:#1b1b1b;background:#f6f6f4}
main{max-width:640px;margin:auto}
h1{font-size:1.25em;margin:.2em 0 .6em}
.caller{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 12px;margin:0 0 10px}
.caller.returned{opacity:.7}
.number{font-size:1.2em;font-weight:600}
.number a{color:#0b57d0;text-decoration:none}
.meta{color:#555;font-size:.9em}
.say{margin:.4em 0 0;padding:.3em .6em;border-left:3px solid #9ecae1;font-style:italic}
.week{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 12px}
.week td,.week th{padding:0}
.inbox{display:inline-block;padding:.5em 1em;background:#1f6f43;color:#fff;border-radius:6px;
text-decoration:none;font-weight:600}
""".strip()


def esc(value: str) -> str:
    return html.escape(clean(value), quote=True)


def _number(c: ReportCaller, report: Report, mask: bool) -> str:
    if mask:
        return esc(masked_number(c))
    shown = esc(number_shown(c, report.country))
    dial = e164(c) if report.tel_links else None
    if dial is None:
        return shown
    # dial matches ^\+[0-9]+$, so it is safe in an attribute as is.
    return (
        f'<a href="tel:{dial}">{shown}</a> <span class="meta">(calling from this phone shows '
        "this phone's own number)</span>"
    )


def inbox_button(report: Report) -> str:
    if not report.inbox_link:
        return ""
    # The link is ours (public_url + a URL-safe token); escaped all the same.
    return (
        f'<p><a class="inbox" href="{esc(report.inbox_link)}">Open my callback inbox</a>'
        '<br><span class="meta">Calls go out from your desk phone with the neutral number. '
        "The link signs you in once.</span></p>"
    )


def _card(c: ReportCaller, report: Report, mask: bool) -> str:
    calls = f"{c.calls} call{'s' if c.calls != 1 else ''}"
    if c.calls > 1:
        times = f"first {when(c.first_at, report.tz)}, last {when(c.last_at, report.tz)}"
    else:
        times = when(c.last_at, report.tz)
    meta = [f"{calls} · {esc(times)}"]
    if c.awaiting and c.new:
        meta.insert(0, "<strong>new</strong>")
    if c.reached_voicemail:
        meta.append("reached the greeting and hung up")
    line = line_of(c)
    if line:
        meta.append(f"line {esc(line)}")
    if c.attempts:
        meta.append(f"{c.attempts} callback attempt{'s' if c.attempts != 1 else ''} so far")
    if not c.awaiting:
        meta.append(esc(how(c.returned_how)))
    name = f'<div class="name">{esc(c.name)}</div>' if c.name else ""
    say = ""
    if c.awaiting and report.opening_line:
        say = f'<p class="say">“{esc(report.opening_line)}”</p>'
    status = "caller" if c.awaiting else "caller returned"
    return (
        f'<section class="{status}"><div class="number">{_number(c, report, mask)}</div>{name}'
        f'<div class="meta">{"<br>".join(meta)}</div>{say}</section>'
    )


def week_html(week: WeekStats, report: Report, heat: HeatStyle) -> str:
    picture = heatmap.svg(week.grid) if heat == "svg" else heatmap.html_table(week.grid)
    days = (week.until - week.since).days
    items = "".join(f"<li>{esc(i)}</li>" for i in week_sentences(week))
    return (
        f'<section class="week"><h2 style="font-size:1.05em;margin:0 0 .4em">'
        f"The last {days} days</h2><ul>{items}</ul>"
        f'<div class="meta">Missed calls by weekday and hour ({esc(report.tz.key)})</div>'
        f"{picture}</section>"
    )


def gaps_html(report: Report) -> str:
    """Times nobody listened to the PBX (ami_listener.gaps): the list may be incomplete then."""
    if not report.gaps:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in gap_sentences(report))
    return (
        '<section class="week"><h2 style="font-size:1.05em;margin:0 0 .4em">'
        f"Not listening</h2><ul>{items}</ul></section>"
    )


def render(report: Report, *, mask: bool = False, heat: HeatStyle = "svg") -> str:
    cards = "".join(_card(c, report, mask) for c in report.callers)
    if not cards:
        cards = '<p class="meta">Nobody is waiting for a callback.</p>'
    week = week_html(report.week, report, heat) if report.week is not None else ""
    week = gaps_html(report) + week
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(headline(report))}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{esc(headline(report))}</h1>"
        f'<p class="meta">{esc(span(report).capitalize())}</p>'
        f"{inbox_button(report)}{cards}{week}</main></body></html>\n"
    )
