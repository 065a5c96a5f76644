"""The i2i_ldm checkpoint manifest, for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_ldm")
