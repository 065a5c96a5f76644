"""Task presets of the EGSDE plugin, one folder per method."""
