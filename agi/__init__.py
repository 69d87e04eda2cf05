"""The desk-phone side of Callback Desk: an AGI menu and the callback dial.

One handler (:mod:`agi.handlers`) runs over classic AGI (``python -m agi``, stdin/stdout) and over
FastAGI (``callback-desk agi serve``). This package never imports ``ami_listener``.
"""
