"""``callback-desk demo``: see :mod:`callback_desk.demo.run`."""
