"""DG's discriminator heads, guided sampling and discriminator training tasks (dg.md §4-§6)."""

from __future__ import annotations

from typing import Any

from tests.preset_references.common import File
from tests.preset_references.edm import EDM_SAMPLER

DG_HEAD = {  # dg.md §5.3; DG classifier_lib.py:38-52, guided_diffusion/script_util.py:29-30
    "image_size": 8,
    "in_channels": 512,
    "width": 128,
    "depth": 2,
    "channel_mult": "1",
    "attention_rates": "0,0,1",
    "num_head_channels": 64,
    "out_channels": 1,
    "num_class": 1000,
}

DG_TASK = {  # dg.md §4: DG generate.py's defaults (generate.py:97-136)
    "backbone": "edm",
    "steps": 18,
    **EDM_SAMPLER,
    "discriminator": {
        "extractor_backbone": "adm-classifier",
        "extractor_preset": "dg_cifar10_classifier32",
        "extractor_checkpoint": File("32x32_classifier.pt"),
        "backbone": "dg-discriminator",
        "time_min": 0.01,
        "time_max": 1.0,
    },
    "run": {"num_samples": 50000, "batch_size": 100},
}

DG_TRAIN = {  # dg.md §6: DG train.py's defaults (train.py:62-72, 129)
    "extractor_backbone": "adm-classifier",
    "extractor_preset": "dg_cifar10_classifier32",
    "extractor_checkpoint": File("32x32_classifier.pt"),
    "init_checkpoint": None,
    "num_data": 50000,
    "epochs": 50,
    "batch_size": 128,
    "lr": 3e-4,
    "weight_decay": 1e-7,
    "t_min": 1e-5,
    "importance_sampling": True,
}


REFERENCE: dict[str, dict[str, Any]] = {
    "plugins/i2i_dg/head_presets/cifar10_uncond.toml": {**DG_HEAD, "condition": False},
    "plugins/i2i_dg/head_presets/cifar10_cond.toml": {**DG_HEAD, "condition": True},
    "plugins/i2i_dg/head_presets/imagenet_cond.toml": {  # DG_imagenet classifier_lib.py:36-50
        **DG_HEAD,
        "in_channels": 384,
        "condition": True,
    },
    # --- DG (dg.md §4, §6; DG README.md:73-87) ----------------------------------------------
    "plugins/i2i_dg/tasks/dg/cifar10-uncond.toml": {
        **DG_TASK,
        "preset": "edm_cifar10_32x32_uncond_vp",
        "checkpoint": File("edm-cifar10-32x32-uncond-vp.pkl"),
        "w1": 2.0,
        "boosting": False,
        "discriminator": {
            **DG_TASK["discriminator"],
            "preset": "cifar10_uncond",
            "checkpoint": File("discriminator_60.pt"),
            "cond": False,
        },
    },
    "plugins/i2i_dg/tasks/dg/cifar10-cond.toml": {
        **DG_TASK,
        "preset": "edm_cifar10_32x32_cond_vp",
        "checkpoint": File("edm-cifar10-32x32-cond-vp.pkl"),
        "w1": 1.0,
        "boosting": True,
        "discriminator": {
            **DG_TASK["discriminator"],
            "preset": "cifar10_cond",
            "checkpoint": File("discriminator_250.pt"),
            "cond": True,
        },
    },
    "plugins/i2i_dg/tasks/train/cifar10-uncond.toml": {
        **DG_TRAIN,
        "real": "data/true_data.npz",
        "fake": "samples/cifar_uncond_vanilla",
        "preset": "cifar10_uncond",
        "cond": False,
    },
    "plugins/i2i_dg/tasks/train/cifar10-cond.toml": {
        **DG_TRAIN,
        "real": "data/true_data_label.npz",
        "fake": "samples/cifar_cond_vanilla",
        "preset": "cifar10_cond",
        "cond": True,
    },
    # --- DG on 2-D points: i2i's own demonstration (docs/methods/dg.md) ----------------------
    "plugins/i2i_dg/tasks/dg/concentric-rings-2d.toml": {
        **DG_TASK,
        "backbone": "ddib-2d",
        "preset": "bundled",
        "checkpoint": "package:i2i_ddib.models/concentric_rings_undertrained.pt",
        "data": "concentric_rings",
        "w1": 4.0,
        "boosting": False,
        "discriminator": {
            **DG_TASK["discriminator"],
            "backbone": "dg-discriminator-2d",
            "preset": "points",
            "extractor_backbone": None,
            "checkpoint": "runs/dg-rings/discriminator/model.pt",
            "time_min": 0.0,
        },
        "run": {"num_samples": 3000, "batch_size": 8},
    },
    "plugins/i2i_dg/tasks/train/concentric-rings-2d.toml": {
        **DG_TRAIN,
        "backbone": "dg-discriminator-2d",
        "preset": "points",
        "extractor_backbone": None,
        "real": "concentric_rings",
        "fake": "runs/dg-rings/fake/points.npy",
        "num_data": 10000,
        "epochs": 100,
        "batch_size": 512,
        "lr": 1e-3,
        "keep_epochs": False,
        "log_every": 100,
    },
    "plugins/i2i_dg/point_presets/points.toml": {"in_channels": 2, "width": 128, "depth": 3},
}
"""Each preset file -> the values the reference uses."""

I2I_OWN: dict[str, set[str]] = {
    "plugins/i2i_dg/tasks/dg/concentric-rings-2d.toml": {
        "backbone",
        "preset",
        "checkpoint",
        "data",
        "w1",
        "discriminator.backbone",
        "discriminator.preset",
        "discriminator.extractor_backbone",
        "discriminator.checkpoint",
        "discriminator.time_min",
        "run.num_samples",
    },
    "plugins/i2i_dg/tasks/train/concentric-rings-2d.toml": {
        "backbone",
        "preset",
        "extractor_backbone",
        "real",
        "fake",
        "num_data",
        "epochs",
        "batch_size",
        "lr",
        "keep_epochs",
        "log_every",
    },
    "plugins/i2i_dg/point_presets/points.toml": {"in_channels", "width", "depth"},
}
"""Preset fields that are i2i's own choice, not the reference's."""
