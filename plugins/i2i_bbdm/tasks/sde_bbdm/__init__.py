"""``i2i translate sde-bbdm`` presets: the reference's evaluation and generation scripts."""
