"""ADM's and DDPM's backbone presets: the guided-diffusion UNets and classifiers, DDPM's UNet."""

from __future__ import annotations

from typing import Any

AFHQ_DOG_4M = {  # adm.md §4, egsde.md §4.1; EGSDE profiles/cat2dog/cat2dog.yml:3-30
    "image_size": 256,
    "in_channels": 3,
    "num_channels": 128,
    "num_res_blocks": 1,
    "channel_mult": "",
    "learn_sigma": True,
    "class_cond": False,
    "attention_resolutions": "16",
    "num_heads": 4,
    "num_head_channels": 64,
    "num_heads_upsample": -1,
    "use_scale_shift_norm": True,
    "dropout": 0.0,
    "resblock_updown": True,
    "use_fp16": False,
    "use_new_attention_order": False,
    "noise_schedule": "linear",
    "diffusion_steps": 1000,
}

IMAGENET256 = {  # adm.md §4; guided-diffusion README.md:63, DDIB README.md:119
    "image_size": 256,
    "in_channels": 3,
    "num_channels": 256,
    "num_res_blocks": 2,
    "channel_mult": "",
    "learn_sigma": True,
    "class_cond": True,
    "num_classes": 1000,
    "attention_resolutions": "32,16,8",
    "num_heads": 4,
    "num_head_channels": 64,
    "num_heads_upsample": -1,
    "use_scale_shift_norm": True,
    "dropout": 0.0,
    "resblock_updown": True,
    "use_fp16": True,
    "use_new_attention_order": False,
    "noise_schedule": "linear",
    "diffusion_steps": 1000,
}

IMAGENET_CLASSIFIER256 = {  # adm.md §2, §4; guided-diffusion script_util.py:27-40, 228-266
    "image_size": 256,
    "in_channels": 3,
    "out_channels": 1000,
    "width": 128,
    "depth": 2,
    "channel_mult": "",
    "attention_resolutions": "32,16,8",
    "num_head_channels": 64,
    "use_scale_shift_norm": True,
    "resblock_updown": True,
    "pool": "attention",
    "use_fp16": False,
    "head_name": "out",
}
DISCRETE_1000 = {"noise_schedule": "linear", "diffusion_steps": 1000}  # adm.md §3.1, §4


REFERENCE: dict[str, dict[str, Any]] = {
    # --- ADM backbones (adm.md §4) -----------------------------------------------------------
    "plugins/i2i_adm/presets/afhq_dog_4m.toml": AFHQ_DOG_4M,
    "plugins/i2i_adm/presets/imagenet256_cond.toml": IMAGENET256,
    "plugins/i2i_adm/presets/imagenet256_uncond.toml": {**IMAGENET256, "class_cond": False},
    "plugins/i2i_adm/presets/imagenet128_cond.toml": {
        **IMAGENET256,
        "image_size": 128,
        "num_heads": 4,
        "num_head_channels": -1,
    },
    "plugins/i2i_adm/presets/imagenet64_cond.toml": {
        **IMAGENET256,
        "image_size": 64,
        "num_channels": 192,
        "num_res_blocks": 3,
        "dropout": 0.1,
        "noise_schedule": "cosine",
        "use_new_attention_order": True,
    },
    "plugins/i2i_adm/classifier_presets/classifier256.toml": {
        **IMAGENET_CLASSIFIER256,
        **DISCRETE_1000,
    },
    "plugins/i2i_adm/classifier_presets/dse256.toml": {  # egsde.md §4.3, §5
        **IMAGENET_CLASSIFIER256,
        **DISCRETE_1000,
        "out_channels": 2,
        "head_name": "I2Iout",
    },
    "plugins/i2i_adm/classifier_presets/dg_cifar10_classifier32.toml": {  # dg.md §5.3, adm.md §4
        **IMAGENET_CLASSIFIER256,
        "image_size": 32,
        "depth": 4,
        "channel_mult": "1,2,4",
    },
    # --- DDPM, AdaIN VGG, DG heads, SDE-BBDM UNet, LDM VQ-f4 -------------------------------
    "plugins/i2i_ddpm/presets/celebahq_female.toml": {  # egsde.md §4.2; male2female.yml:12-30
        "model_type": "simple",
        "num_diffusion_timesteps": 1000,
        "resolution": 256,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 128,
        "ch_mult": [1, 1, 2, 2, 4, 4],
        "num_res_blocks": 2,
        "attn_resolutions": [16],
        "dropout": 0.0,
        "resamp_with_conv": True,
    },
}
"""Each preset file -> the values the reference uses."""
