"""Task presets of the egsde method (egsde.md §2, sddm.md §10)."""
