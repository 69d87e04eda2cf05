"""Callback Desk core: configuration, phone numbers and the PostgreSQL store.

Shared by the AMI listener, the AGI and the reports. The listener (`ami_listener`) and the AGI
(`agi`) never import each other; both import from here.
"""

__version__ = "0.1.0"
