"""Registration of ``i2i sample edm`` (torch-free: discovery and --help stay instant)."""

from __future__ import annotations

from i2i_cli.plugin import Method
from i2i_edm.method_settings import EdmSampleSettings

edm = Method(
    summary="EDM: Heun sampling (Karras et al. 2022) of an EDM network, one image per seed.",
    settings=EdmSampleSettings,
    sample="i2i_edm.sampling:sample",
    presets="i2i_edm.tasks.edm",
)
