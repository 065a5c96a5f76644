"""Parity tests: our code against the golden vectors recorded from the reference implementations."""
