"""The ``icspa`` command line: one module per command group, all over the services."""
