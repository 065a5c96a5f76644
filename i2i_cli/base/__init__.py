"""The foundation every layer may use: the error classes a user sees as one line, message
wording, path checks and atomic file writes.

It imports nothing else of i2i (and no torch): every other package sits above it.
"""
