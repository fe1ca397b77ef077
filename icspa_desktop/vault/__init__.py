"""The on-disk vault: SQLCipher database, key slots, lock file, atomic files."""
