"""SDE-BBDM's UNet and task presets, and LDM's VQ-f4 autoencoder (bbdm.md §2-§7)."""

from __future__ import annotations

from typing import Any

SDE_BBDM = {  # bbdm.md §2-§5: T = 1000, lambda = 2, 256x256
    "backbone": "bbdm-unet",
    "steps": 1000,
    "c_lambda": 2.0,
    "latent": "none",
    "image_size": 256,
}


REFERENCE: dict[str, dict[str, Any]] = {
    "plugins/i2i_bbdm/presets/sde_bbdm.toml": {  # bbdm.md §7: build_unet(3, 3)
        "image_size": 256,
        "in_channels": 3,
        "model_channels": 128,
        "out_channels": 3,
        "num_res_blocks": 2,
        "attention_resolutions": [32, 16, 8],
        "dropout": 0.0,
        "channel_mult": [1, 4, 8],
        "conv_resample": True,
        "num_heads": 8,
        "num_head_channels": 64,
        "num_heads_upsample": -1,
        "use_scale_shift_norm": True,
        "resblock_updown": True,
        "use_new_attention_order": False,
    },
    "plugins/i2i_ldm/presets/vq_f4.toml": {  # bbdm.md §6; LDM vq-f4/config.yaml:5-22
        "embed_dim": 3,
        "n_embed": 8192,
        "z_channels": 3,
        "resolution": 256,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 128,
        "ch_mult": "1,2,4",
        "num_res_blocks": 2,
        "attn_resolutions": "",
        "attn_type": "vanilla",
        "dropout": 0.0,
        "apply_proj_out": True,  # LDM's AttnBlock applies it (bbdm.md §6, pitfall 15)
        "norm_eps": 1e-6,  # LDM's Normalize (ldm/modules/diffusionmodules/model.py:38-39)
    },
    # --- SDE-BBDM (bbdm.md §4, §5) ---------------------------------------------------------
    "plugins/i2i_bbdm/tasks/sde_bbdm/eval.toml": {**SDE_BBDM, "sampler": "fast", "taus": ""},
    "plugins/i2i_bbdm/tasks/sde_bbdm/generate.toml": {**SDE_BBDM, "sampler": "full"},
}
"""Each preset file -> the values the reference uses."""
