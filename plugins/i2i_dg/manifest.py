"""The i2i_dg checkpoint manifest (DG discriminator heads, extractors), for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_dg")
