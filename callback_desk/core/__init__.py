"""The core: settings, phone numbers, the record model, the store, SQL loading, the AMI client
and the one exception tree. It imports nothing from the features (the listener, the desk side,
the report, the inbox) — the import contracts in ``pyproject.toml`` check it."""
