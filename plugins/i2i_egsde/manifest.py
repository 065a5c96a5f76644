"""The i2i_egsde checkpoint manifest (EGSDE extractors, FID stats), for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_egsde")
