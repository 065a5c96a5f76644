"""The ``smoke`` method: a placeholder that exercises the whole translate/sample path."""
