"""Task presets of ``i2i train discriminator`` (DG's README training commands, dg.md §6)."""
