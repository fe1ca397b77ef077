"""Fuzzing of every parser of untrusted input, and evidence file names end to end (issue 13, items 3 and 4)."""
