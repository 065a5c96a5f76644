"""DDIB's 2-D model, ImageNet translation and 2-D training task presets (ddib.md §2-§3)."""

from __future__ import annotations

from typing import Any

from tests.preset_references.common import File

DDIB_2D_TRAIN = {  # ddib.md §2.3: synthetic_train.py as README.md:68 runs it
    "quick": False,
    "num_points": 300000,
    "batch_size": 20000,
    "lr": 1e-4,
    "lr_schedule": "constant",
    "timesteps": "uniform",
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "ema_decay": 0.9999,
}


def ddib_sample(data: str) -> dict[str, Any]:
    """A bundled 2-D model sampled as synthetic_sample.py does (ddib.md §2.4)."""
    return {"backbone": "ddib-2d", "source": data, "target": data}


REFERENCE: dict[str, dict[str, Any]] = {
    "plugins/i2i_ddib/presets2d/bundled.toml": {
        "num_channels": 128,
        "num_res_blocks": 2,
        "dropout": 0.0,
        "diffusion_steps": 4000,
        "noise_schedule": "linear",
    },
    # --- DDIB (ddib.md §2-§3) --------------------------------------------------------------
    "plugins/i2i_ddib/tasks/ddib/imagenet.toml": {  # ddib.md §3: README.md:119-120
        "backbone": "adm-unet",
        "preset": "imagenet256_cond",
        "checkpoint": File("256x256_diffusion.pt"),
        "source": "260,261,282,283",
        "target": "261,262,283,284",
        "solver": "ddim",
        "steps": None,
        "clip_denoised": True,
        "cycle": False,
        "energy": [
            {
                "name": "classifier",
                "weight": 1.0,
                "backbone": "adm-classifier",
                "preset": "classifier256",
                "checkpoint": File("256x256_classifier.pt"),
            }
        ],
    },
    "plugins/i2i_ddib/tasks/ddib/moons2checkerboards.toml": {  # synthetic_cycle.py (§2.4)
        "backbone": "ddib-2d",
        "source": "moons",
        "target": "checkerboards",
        "cycle": True,
    },
    "plugins/i2i_ddib/tasks/ddib/moons2checkerboards-reference.toml": {  # ddib.md §2.4, §5
        "backbone": "ddib-2d",
        "source": "moons",
        "target": "checkerboards",
        "num_points": 90000,
        "cycle": True,
        "official": True,
        "solver": "ddim",
        "steps": None,
        "clip_denoised": False,
    },
    "plugins/i2i_ddib/tasks/ddib/moons2squares.toml": {  # synthetic_translation.py (§2.4)
        "backbone": "ddib-2d",
        "source": "moons",
        "target": "concentric_squares",
    },
    "plugins/i2i_ddib/tasks/ddib/moons.toml": ddib_sample("moons"),
    "plugins/i2i_ddib/tasks/ddib/checkerboards.toml": ddib_sample("checkerboards"),
    "plugins/i2i_ddib/tasks/ddib/concentric_rings.toml": ddib_sample("concentric_rings"),
    "plugins/i2i_ddib/tasks/ddib/concentric_squares.toml": ddib_sample("concentric_squares"),
    "plugins/i2i_ddib/tasks/ddib/parallel_rings.toml": ddib_sample("parallel_rings"),
    "plugins/i2i_ddib/tasks/ddib/parallel_squares.toml": ddib_sample("parallel_squares"),
    "plugins/i2i_ddib/tasks/train2d/moons.toml": {**DDIB_2D_TRAIN, "data": "moons"},
    "plugins/i2i_ddib/tasks/train2d/checkerboards.toml": {**DDIB_2D_TRAIN, "data": "checkerboards"},
    "plugins/i2i_ddib/tasks/train2d/concentric_rings.toml": {
        **DDIB_2D_TRAIN,
        "data": "concentric_rings",
    },
    "plugins/i2i_ddib/tasks/train2d/concentric_squares.toml": {
        **DDIB_2D_TRAIN,
        "data": "concentric_squares",
    },
    "plugins/i2i_ddib/tasks/train2d/parallel_rings.toml": {
        **DDIB_2D_TRAIN,
        "data": "parallel_rings",
    },
    "plugins/i2i_ddib/tasks/train2d/parallel_squares.toml": {
        **DDIB_2D_TRAIN,
        "data": "parallel_squares",
    },
}
"""Each preset file -> the values the reference uses."""

I2I_OWN: dict[str, set[str]] = {
    "plugins/i2i_ddib/tasks/ddib/moons2squares.toml": {"cycle"},
    "plugins/i2i_ddib/presets2d/bundled.toml": {"num_channels", "num_res_blocks", "dropout"},
}
"""Preset fields that are i2i's own choice, not the reference's."""
