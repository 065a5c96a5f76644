"""Task presets of the ilvr method (egsde.md §2, sddm.md §10)."""
