"""``callback-desk doctor``: see :mod:`callback_desk.doctor.checks`."""
