"""The chain of custody: signed events appended to a Merkle-tree log."""
