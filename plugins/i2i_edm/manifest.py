"""The i2i_edm checkpoint manifest (EDM's network pickles), for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_edm")
