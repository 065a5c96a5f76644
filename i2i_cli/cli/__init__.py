"""The ``i2i`` command line (Typer): the app, its global options, the built-in commands and
one command per registered plugin, and how errors become one line and an exit status.

The top layer: it may import every package of the core, and is imported by none.
"""
