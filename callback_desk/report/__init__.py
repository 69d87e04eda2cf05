"""The morning missed-call report: who to call back, on screen and by email.

settings.py    [report] and [smtp] sections          window.py   default time window
query.py       the only database reads               model.py    plain values
render_*.py    text, CSV, JSON, HTML (pure)           heatmap.py  weekday x hour picture
mail.py        multipart email and SMTP              command.py  wiring for the CLI
"""

from __future__ import annotations

from callback_desk.report.render_json import iso, missed_json

__all__ = ["iso", "missed_json"]
