"""ICSPA Evidence Desktop: secure, offline handling of digital evidence."""

__version__ = "0.1.0"
TOOL_NAME = "ICSPA Evidence Desktop"
