"""Task presets of the SDE-BBDM plugin, one folder per command."""
