"""The robustness corpus: faults a new user meets, each one line, a non-zero exit, nothing lost."""
