"""The API the CLI and the GUI share: synchronous, Qt-free, role-checked, custody-recorded."""
