"""The i2i_ddib checkpoint manifest (the DDIB 2-D models), for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_ddib")
