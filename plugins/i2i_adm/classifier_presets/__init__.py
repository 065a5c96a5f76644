"""Exact flags of the official guided-diffusion / DG classifiers, one TOML file each."""
