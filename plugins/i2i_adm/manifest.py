"""The i2i_adm checkpoint manifest (ADM score models, classifiers), for ``i2i.checkpoints``."""

from i2i_cli.checkpoints.manifest import PackageManifest

checkpoints = PackageManifest("i2i_adm")
