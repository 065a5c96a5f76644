"""Exact constructor arguments of the official EDM network pickles, one TOML file each."""
