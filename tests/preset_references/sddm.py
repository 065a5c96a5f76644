"""SDDM's AdaIN VGG preset and its task presets (sddm.md §3-§5)."""

from __future__ import annotations

from typing import Any

from tests.preset_references.common import File

SDDM_TASK = {  # sddm.md §3, §5: ae_sample.py's defaults and the hard-coded constants
    "respacing": "100",
    "area": 16,
    "detail_merge": False,
    "refine_iterations": 4,
    "combination_scale": 1.0,
    "clip_denoised": True,
    "fixed_variance": "small",
    "fit": "adm-crop",
    "frank_wolfe_stop": "batch",  # sddm.md §3.2: the early stop couples the whole batch
    "energy": [
        {
            "name": "vgg-adain",
            "weight": 25.0,
            "backbone": "adain-vgg",
            "preset": "vgg_normalised",
            "checkpoint": File("vgg_normalised.pth"),
        }
    ],
}
SDDM_AFHQ = {"backbone": "adm-unet", "preset": "afhq_dog_4m", "checkpoint": File("afhq_dog_4m.pt")}


REFERENCE: dict[str, dict[str, Any]] = {
    "plugins/i2i_sddm/presets/vgg_normalised.toml": {"level": 1, "layers": "all"},  # sddm.md §4
    "plugins/i2i_sddm/tasks/sddm/cat2dog.toml": {**SDDM_TASK, **SDDM_AFHQ, "range_t": 60},
    "plugins/i2i_sddm/tasks/sddm/wild2dog.toml": {**SDDM_TASK, **SDDM_AFHQ, "range_t": 50},
    "plugins/i2i_sddm/tasks/sddm/male2female.toml": {
        **SDDM_TASK,
        "backbone": "ddpm-unet",
        "preset": "celebahq_female",
        "checkpoint": File("celebahq_female_ddpm.pth"),
        "range_t": 50,
    },
}
"""Each preset file -> the values the reference uses."""
