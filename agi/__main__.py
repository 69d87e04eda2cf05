"""``python -m agi``: one classic AGI session (see :mod:`agi.classic`)."""

import gc

# One short-lived process per *47 (or per callback): the cyclic collector would only run during
# the imports, ~6 % of the start-up the desk waits through, to free nothing worth freeing. A
# session allocates little after its first prompt (it mostly waits for Asterisk), so it stays
# off for the process's life.
gc.disable()

from agi.classic import main  # noqa: E402 - after gc.disable, which is the point

if __name__ == "__main__":
    raise SystemExit(main())
