"""``python -m agi``: one classic AGI session (see :mod:`agi.classic`)."""

from agi.classic import main

if __name__ == "__main__":
    raise SystemExit(main())
