"""``callback-desk install`` and ``uninstall``: one command sets up a PBX server.

``system`` detects what is there, ``plan`` decides (pure) what to do, ``execute`` does it and
says so, ``render`` writes the texts from the shipped samples, ``database`` talks to
PostgreSQL as its administrator, ``command`` runs the whole.
"""
