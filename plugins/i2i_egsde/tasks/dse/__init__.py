"""Task presets of the DSE trainer (egsde.md §5)."""
