"""Fast tests: no PostgreSQL, no MariaDB, no Asterisk lab, no browser (``pytest tests/unit``)."""
