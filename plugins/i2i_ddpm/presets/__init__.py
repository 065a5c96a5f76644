"""Exact configurations of official ddim-repository checkpoints, one TOML file each."""
