"""The inbox's views: ``base.py`` (dependencies, sessions, guards), ``callers.py`` (the pages),
``actions.py`` (what a person does to a caller), ``signin.py`` (signing in and out)."""
