"""The i2i_ddpm checkpoint manifest (the ddim-repo model), for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_ddpm")
