"""EDM's network presets and sampling tasks (dg.md §2.4, §3)."""

from __future__ import annotations

import math
from typing import Any

from tests.preset_references.common import File

DDPMPP = {  # dg.md §2.4; EDM train.py:116-118
    "model_type": "SongUNet",
    "embedding_type": "positional",
    "encoder_type": "standard",
    "decoder_type": "standard",
    "channel_mult_noise": 1,
    "resample_filter": [1, 1],
    "model_channels": 128,
}
NCSNPP = {  # dg.md §2.4; EDM train.py:119-121
    "model_type": "SongUNet",
    "embedding_type": "fourier",
    "encoder_type": "residual",
    "decoder_type": "standard",
    "channel_mult_noise": 2,
    "resample_filter": [1, 3, 3, 1],
    "model_channels": 128,
}
EDM_CIFAR10 = {  # dg.md §2.4: EDMPrecond, train.py:48 default; README.md:204-207
    "precond": "edm",
    "sigma_data": 0.5,
    "img_resolution": 32,
    "img_channels": 3,
    "use_fp16": False,
    "channel_mult": [2, 2, 2],
    "dropout": 0.13,
    "augment_dim": 9,
}
EDM_64 = {  # dg.md §2.4; README.md:208-211 (--cres=1,2,2,2 --augment=0.15)
    "precond": "edm",
    "sigma_data": 0.5,
    "img_resolution": 64,
    "img_channels": 3,
    "label_dim": 0,
    "use_fp16": False,
    "channel_mult": [1, 2, 2, 2],
    "augment_dim": 9,
}
VP_SCHEDULE = {"beta_d": 19.9, "beta_min": 0.1, "M": 1000, "epsilon_t": 1e-5}  # dg.md §2

EDM_SAMPLER = {  # dg.md §3: edm_sampler's defaults (EDM generate.py:27-28, DG generate.py:29-30)
    "sigma_min": 0.002,
    "sigma_max": 80.0,
    "rho": 7.0,
    "s_churn": 0.0,
    "s_min": 0.0,
    "s_max": math.inf,
    "s_noise": 1.0,
}
EDM_FID_RUN = {  # dg.md §3; EDM README.md:126 (--seeds=0-49999 --subdirs), generate.py:222
    "seeds": "0-49999",
    "subdirs": True,
    "class_label": None,
    "run": {"batch_size": 64},
}


def edm_task(network: str, steps: int, **churn: float) -> dict[str, Any]:
    """An EDM sampling task: the network's preset and pickle, README.md:91-101's steps."""
    preset = "edm_" + network.replace("-", "_")
    return {
        "backbone": "edm",
        "preset": preset,
        "checkpoint": File(f"edm-{network}.pkl"),
        "steps": steps,
        **EDM_SAMPLER,
        **churn,
        **EDM_FID_RUN,
    }


REFERENCE: dict[str, dict[str, Any]] = {
    # --- EDM networks (dg.md §2.4) -------------------------------------------------------------
    "plugins/i2i_edm/presets/edm_cifar10_32x32_uncond_vp.toml": {
        **EDM_CIFAR10,
        **DDPMPP,
        "label_dim": 0,
    },
    "plugins/i2i_edm/presets/edm_cifar10_32x32_cond_vp.toml": {
        **EDM_CIFAR10,
        **DDPMPP,
        "label_dim": 10,
    },
    "plugins/i2i_edm/presets/edm_cifar10_32x32_uncond_ve.toml": {
        **EDM_CIFAR10,
        **NCSNPP,
        "label_dim": 0,
    },
    "plugins/i2i_edm/presets/edm_cifar10_32x32_cond_ve.toml": {
        **EDM_CIFAR10,
        **NCSNPP,
        "label_dim": 10,
    },
    "plugins/i2i_edm/presets/edm_ffhq_64x64_uncond_vp.toml": {**EDM_64, **DDPMPP, "dropout": 0.05},
    "plugins/i2i_edm/presets/edm_ffhq_64x64_uncond_ve.toml": {**EDM_64, **NCSNPP, "dropout": 0.05},
    "plugins/i2i_edm/presets/edm_afhqv2_64x64_uncond_vp.toml": {
        **EDM_64,
        **DDPMPP,
        "dropout": 0.25,
    },
    "plugins/i2i_edm/presets/edm_afhqv2_64x64_uncond_ve.toml": {
        **EDM_64,
        **NCSNPP,
        "dropout": 0.25,
    },
    "plugins/i2i_edm/presets/edm_imagenet_64x64_cond_adm.toml": {  # README.md:212, train.py:124
        "precond": "edm",
        "sigma_data": 0.5,
        "img_resolution": 64,
        "img_channels": 3,
        "label_dim": 1000,
        "use_fp16": True,
        "model_type": "DhariwalUNet",
        "model_channels": 192,
        "channel_mult": [1, 2, 3, 4],
        "num_blocks": 3,
        "attn_resolutions": [32, 16, 8],
        "augment_dim": 0,
        "dropout": 0.10,
    },
    # Config A baselines (dg.md §2.4 correction; EDM README.md:67-70, 222-224)
    "plugins/i2i_edm/presets/baseline_cifar10_32x32_uncond_vp.toml": {
        "precond": "vp",
        **VP_SCHEDULE,
        "img_resolution": 32,
        "img_channels": 3,
        "label_dim": 0,
        **{k: v for k, v in DDPMPP.items() if k not in ("model_channels", "decoder_type")},
    },
    "plugins/i2i_edm/presets/baseline_cifar10_32x32_uncond_ve.toml": {
        "precond": "ve",
        "img_resolution": 32,
        "img_channels": 3,
        "label_dim": 0,
        **{k: v for k, v in NCSNPP.items() if k not in ("model_channels", "decoder_type")},
    },
    "plugins/i2i_edm/presets/baseline_imagenet_64x64_cond_adm.toml": {
        "precond": "iddpm",  # dg.md §2: iDDPMPrecond (C1 0.001, C2 0.008, M 1000)
        "C_1": 0.001,
        "C_2": 0.008,
        "M": 1000,
        "img_resolution": 64,
        "img_channels": 3,
        "label_dim": 1000,
        "model_type": "DhariwalUNet",
    },
    # --- EDM sampling tasks (dg.md §3: EDM README.md:91-101) --------------------------------
    "plugins/i2i_edm/tasks/edm/cifar10-32x32-uncond-vp.toml": edm_task(
        "cifar10-32x32-uncond-vp", 18
    ),
    "plugins/i2i_edm/tasks/edm/cifar10-32x32-cond-vp.toml": edm_task("cifar10-32x32-cond-vp", 18),
    "plugins/i2i_edm/tasks/edm/cifar10-32x32-uncond-ve.toml": edm_task(
        "cifar10-32x32-uncond-ve", 18
    ),
    "plugins/i2i_edm/tasks/edm/cifar10-32x32-cond-ve.toml": edm_task("cifar10-32x32-cond-ve", 18),
    "plugins/i2i_edm/tasks/edm/ffhq-64x64-uncond-vp.toml": edm_task("ffhq-64x64-uncond-vp", 40),
    "plugins/i2i_edm/tasks/edm/ffhq-64x64-uncond-ve.toml": edm_task("ffhq-64x64-uncond-ve", 40),
    "plugins/i2i_edm/tasks/edm/afhqv2-64x64-uncond-vp.toml": edm_task("afhqv2-64x64-uncond-vp", 40),
    "plugins/i2i_edm/tasks/edm/afhqv2-64x64-uncond-ve.toml": edm_task("afhqv2-64x64-uncond-ve", 40),
    "plugins/i2i_edm/tasks/edm/imagenet-64x64-cond-adm.toml": edm_task(
        "imagenet-64x64-cond-adm", 256, s_churn=40.0, s_min=0.05, s_max=50.0, s_noise=1.003
    ),
}
"""Each preset file -> the values the reference uses."""
