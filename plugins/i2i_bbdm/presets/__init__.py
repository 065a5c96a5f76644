"""The SDE-BBDM UNet's official configuration, one TOML file per preset."""
