"""Exact flags of the official guided-diffusion checkpoints, one TOML file each."""
