"""Tests against real databases: PostgreSQL (every test its own database) and MariaDB."""
