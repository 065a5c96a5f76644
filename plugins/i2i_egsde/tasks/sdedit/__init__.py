"""Task presets of the sdedit method (egsde.md §2, sddm.md §10)."""
