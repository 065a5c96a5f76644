"""Task protocols of ``i2i evaluate all``: one ``<task>.toml`` of AllSettings values each."""
