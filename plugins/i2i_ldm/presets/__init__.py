"""Configurations of LDM's released first-stage autoencoders, one TOML file each."""
