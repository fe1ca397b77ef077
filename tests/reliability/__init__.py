"""Reliability harness (issue 13 items 1, 2, 6): crash points, I/O faults, secrets hygiene. See docs/reliability.md."""
