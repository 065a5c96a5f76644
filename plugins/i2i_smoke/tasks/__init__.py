"""Task presets of the smoke method."""
