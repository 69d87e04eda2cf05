"""Real Asterisk PBX lab for the test suite (see tests/lab/NOTES.md)."""
