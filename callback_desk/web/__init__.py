"""The callback inbox: a live web page per therapist, calling back through the desk phone.

Layers: this package stands on the core, the desk side (the callback policy and click-to-call in
``agi``) and the report (the list and the week); only ``callback_desk.cli`` imports it.
"""
