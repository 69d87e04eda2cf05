"""Callback Desk: call back every caller a therapy practice missed, discreetly.

``callback_desk.core`` is the bottom layer; the features (``ami_listener``, ``agi``,
``callback_desk.report``) each stand on it alone, and ``callback_desk.cli`` wires them.
"""

__version__ = "0.1.0"
