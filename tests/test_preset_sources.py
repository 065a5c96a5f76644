"""Every shipped preset gives the reference's values, and every field says where it comes from.

``REFERENCE`` holds, for each preset file i2i ships (backbone presets and the task presets of
methods and trainers), the values the reference uses. They are typed in from the specs
(``shared/spec/*.md``) and, where a spec is silent, from the reference code it cites; they are
not read or copied from the presets. Each value is compared with what the registry resolves for
that preset (defaults < preset, as ``i2i`` runs it), so a wrong preset value, or a changed
default the preset relies on, fails here. A preset without an entry fails too.

Each field line of a preset carries a comment saying where its value comes from (``file:line``
in the reference, a spec section, a paper table), or, for the few fields that are i2i's own
choice, saying so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import dump_settings
from i2i_cli.checkpoints.index import shipped_manifests
from i2i_cli.checkpoints.manifest import read_manifest
from i2i_cli.cli.commands.capability import SAMPLE, TRAIN, TRANSLATE
from i2i_cli.cli.commands.resolve import resolve
from i2i_cli.networks.backbones import backbone_settings
from i2i_cli.run.energy_terms import validate_energy_settings

ROOT = Path(__file__).resolve().parents[1]
PRESET_GLOBS = (
    "plugins/*/presets/*.toml",
    "plugins/*/*_presets/*.toml",
    "plugins/*/tasks/*/*.toml",
)
"""Where plugins ship presets: backbone presets (``presets/``, ``<kind>_presets/``) and task
presets (``tasks/<command>/``)."""


@dataclass(frozen=True)
class File:
    """A checkpoint field's reference value: the artifact it names is the reference's file."""

    name: str


# ---------------------------------------------------------------------------------------------
# The reference values. Sources: the spec section first, then the reference file:line.

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

DSE_ENERGY = {  # egsde.md §1.2, §4.3: s1 = 'cosine' on the DSE_inference trunk
    "name": "dse",
    "weight": 500.0,
    "backbone": "adm-classifier",
    "preset": "dse256",
    "similarity": "cosine",
}
LOWPASS_ENERGY = {  # egsde.md §1.2, §3: s2 = 'neg_l2', down_N 32, the linear Resizer kernel
    "name": "lowpass",
    "weight": 2.0,
    "factor": 32,
    "kernel": "linear",
    "distance": "l2",
}


SCORE_MODELS = {"ADM": ("adm-unet", "afhq_dog_4m"), "DDPM": ("ddpm-unet", "celebahq_female")}
"""EGSDE's ``diffusionmodel`` (profiles/*/args.py) -> i2i's backbone and preset (egsde.md §4)."""


def egsde_task(model: str, checkpoint: str) -> dict[str, Any]:
    """An EGSDE/SDEdit task's score model: egsde.md §2 (t = M = 500), §1.3/pitfall 11."""
    backbone, preset = SCORE_MODELS[model]
    return {
        "backbone": backbone,
        "preset": preset,
        "checkpoint": File(checkpoint),
        "start_step": 500,
        "run": {"output_format": "source"},
    }


def egsde_energies(dse: str, **dse_settings: Any) -> dict[str, Any]:
    """EGSDE's two energies with the task's extractor (egsde.md §2: ls 500, li 2)."""
    return {"energy": [{**DSE_ENERGY, "checkpoint": File(dse), **dse_settings}, LOWPASS_ENERGY]}


DSE_TRAIN = {  # egsde.md §5: run_train_dse.py:171-196 and classifier_and_diffusion_defaults
    "preset": "dse256",
    "init_checkpoint": File("256x256_classifier.pt"),
    "batch_size": 32,
    "lr": 3e-4,
    "weight_decay": 0.05,
    "hflip": True,
    "noised": True,
    "diffusion_steps": 1000,
    "noise_schedule": "linear",
    "checkpoint_every": 500,
    "ema_decay": None,
}

ILVR_AFHQ = {  # sddm.md §10: ILVR README.md:41 flags with afhq_dog_4m.pt
    "backbone": "adm-unet",
    "preset": "afhq_dog_4m",
    "checkpoint": File("afhq_dog_4m.pt"),
    "respacing": "100",
    "down_n": 32,
    "range_t": 20,
    "kernel": "cubic",
    "clip_denoised": True,
    "fixed_variance": "large",
    "fit": "adm-crop",
}

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

SDE_BBDM = {  # bbdm.md §2-§5: T = 1000, lambda = 2, 256x256
    "backbone": "bbdm-unet",
    "steps": 1000,
    "c_lambda": 2.0,
    "latent": "none",
    "image_size": 256,
}

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
    "plugins/i2i_sddm/presets/vgg_normalised.toml": {"level": 1, "layers": "all"},  # sddm.md §4
    "plugins/i2i_dg/head_presets/cifar10_uncond.toml": {**DG_HEAD, "condition": False},
    "plugins/i2i_dg/head_presets/cifar10_cond.toml": {**DG_HEAD, "condition": True},
    "plugins/i2i_dg/head_presets/imagenet_cond.toml": {  # DG_imagenet classifier_lib.py:36-50
        **DG_HEAD,
        "in_channels": 384,
        "condition": True,
    },
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
    "plugins/i2i_ddib/presets2d/bundled.toml": {
        "num_channels": 128,
        "num_res_blocks": 2,
        "dropout": 0.0,
        "diffusion_steps": 4000,
        "noise_schedule": "linear",
    },
    # --- EGSDE and SDEdit (egsde.md §2), the extractors' training (§5) ------------------------
    "plugins/i2i_egsde/tasks/egsde/cat2dog.toml": {
        **egsde_task("ADM", "afhq_dog_4m.pt"),
        **egsde_energies("cat2dog_dse.pt"),
    },
    "plugins/i2i_egsde/tasks/egsde/wild2dog.toml": {
        **egsde_task("ADM", "afhq_dog_4m.pt"),
        **egsde_energies("wild2dog_dse.pt"),
    },
    "plugins/i2i_egsde/tasks/egsde/male2female.toml": {
        **egsde_task("DDPM", "celebahq_female_ddpm.pth"),
        **egsde_energies("male2female_dse.pt"),
    },
    "plugins/i2i_egsde/tasks/egsde/multi-afhq.toml": {
        **egsde_task("ADM", "afhq_dog_4m.pt"),
        **egsde_energies("afhq_dse.pt", model={"out_channels": 3}),
    },
    "plugins/i2i_egsde/tasks/sdedit/cat2dog.toml": egsde_task("ADM", "afhq_dog_4m.pt"),
    "plugins/i2i_egsde/tasks/sdedit/wild2dog.toml": egsde_task("ADM", "afhq_dog_4m.pt"),
    "plugins/i2i_egsde/tasks/sdedit/male2female.toml": egsde_task(
        "DDPM", "celebahq_female_ddpm.pth"
    ),
    "plugins/i2i_egsde/tasks/sdedit/multi-afhq.toml": egsde_task("ADM", "afhq_dog_4m.pt"),
    "plugins/i2i_egsde/tasks/dse/cat2dog.toml": {
        **DSE_TRAIN,
        "data_a": "data/afhq/train/cat",
        "data_b": "data/afhq/train/dog",
        "data_c": None,
        "iterations": 5000,
    },
    "plugins/i2i_egsde/tasks/dse/wild2dog.toml": {
        **DSE_TRAIN,
        "data_a": "data/afhq/train/wild",
        "data_b": "data/afhq/train/dog",
        "data_c": None,
        "iterations": 5000,
    },
    "plugins/i2i_egsde/tasks/dse/male2female.toml": {
        **DSE_TRAIN,
        "data_a": "data/celeba_hq/train/male",
        "data_b": "data/celeba_hq/val/female",  # val, as written (egsde.md §5)
        "data_c": None,
        "iterations": 5000,
    },
    "plugins/i2i_egsde/tasks/dse/multi-afhq.toml": {
        **DSE_TRAIN,
        "data_a": "data/afhq/train/cat",
        "data_b": "data/afhq/train/wild",
        "data_c": "data/afhq/train/dog",
        "iterations": 10000,
    },
    # --- ILVR and SDDM (sddm.md §5, §10; rebuttal Tables 1, 2 and 7) --------------------------
    "plugins/i2i_egsde/tasks/ilvr/cat2dog.toml": ILVR_AFHQ,
    "plugins/i2i_egsde/tasks/ilvr/wild2dog.toml": ILVR_AFHQ,
    "plugins/i2i_sddm/tasks/sddm/cat2dog.toml": {**SDDM_TASK, **SDDM_AFHQ, "range_t": 60},
    "plugins/i2i_sddm/tasks/sddm/wild2dog.toml": {**SDDM_TASK, **SDDM_AFHQ, "range_t": 50},
    "plugins/i2i_sddm/tasks/sddm/male2female.toml": {
        **SDDM_TASK,
        "backbone": "ddpm-unet",
        "preset": "celebahq_female",
        "checkpoint": File("celebahq_female_ddpm.pth"),
        "range_t": 50,
    },
    # --- SDE-BBDM (bbdm.md §4, §5) ---------------------------------------------------------
    "plugins/i2i_bbdm/tasks/sde_bbdm/eval.toml": {**SDE_BBDM, "sampler": "fast", "taus": ""},
    "plugins/i2i_bbdm/tasks/sde_bbdm/generate.toml": {**SDE_BBDM, "sampler": "full"},
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

I2I_OWN: dict[str, set[str]] = {
    "plugins/i2i_ddib/tasks/ddib/moons2squares.toml": {"cycle"},
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
    "plugins/i2i_ddib/presets2d/bundled.toml": {"num_channels", "num_res_blocks", "dropout"},
}
"""Preset fields that are i2i's own choice, not the reference's: their comment says so."""


# ---------------------------------------------------------------------------------------------
# Resolving a shipped preset through the registry.


@cache
def registry() -> Registry:
    return Registry.discover()


@cache
def owners() -> dict[Path, list[tuple[str, str]]]:
    """Each preset folder -> the (kind, name) of the plugins that read it."""
    found: dict[Path, list[tuple[str, str]]] = {}
    for kind in ("backbones", "methods", "trainers"):
        for name in registry().names(kind):
            package = getattr(registry().load(kind, name), "presets", None)
            if package is not None:
                folder = Path(str(resources.files(package))).resolve()
                found.setdefault(folder, []).append((kind, name))
    return found


@cache
def artifact_files() -> dict[str, str]:
    """Each shipped checkpoint artifact -> the file name it downloads."""
    files: dict[str, str] = {}
    for source in shipped_manifests(registry()):
        files.update({name: a.file for name, a in read_manifest(source).items()})
    return files


def shipped_presets() -> list[str]:
    return sorted({str(p.relative_to(ROOT)) for g in PRESET_GLOBS for p in ROOT.glob(g)})


def flat(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"a": {"b": [x]}}`` as ``("a.b", [x])``; lists of tables are indexed (``energy.0``)."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from flat(value, f"{prefix}{key}.")
    elif isinstance(data, list) and data and all(isinstance(v, Mapping) for v in data):
        for index, value in enumerate(data):
            yield from flat(value, f"{prefix}{index}.")
    else:
        yield prefix[:-1], data


def resolved(path: str) -> dict[str, Any]:
    """The settings ``i2i`` runs preset ``path`` with, flattened (energies fully validated)."""
    file = ROOT / path
    (kind, name), *_ = owners()[file.parent.resolve()]
    descriptor = registry().load(kind, name)
    if kind == "backbones":
        _, settings = backbone_settings(name, file.stem, registry=registry())
        return dict(flat(dump_settings(settings)))
    if kind == "trainers":
        capability = TRAIN
    else:
        capability = TRANSLATE if descriptor.translate is not None else SAMPLE
    run = resolve(
        capability, name, descriptor, task=file.stem, config=None, assignments=[], flags={}
    )
    data = dump_settings(run.settings)
    data["run"] = dump_settings(run.run)
    terms = getattr(run.settings, "energy", None)
    if terms:
        energies = validate_energy_settings(terms, registry())
        data["energy"] = [
            {"name": t.name, "weight": t.weight, **dump_settings(s)}
            for t, s in zip(terms, energies, strict=True)
        ]
    return dict(flat(data))


def differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """One line per reference value the resolved settings do not give."""
    lines = []
    for key, want in flat(expected):
        if key not in actual:
            lines.append(f"{key}: absent (reference: {want!r})")
            continue
        got = actual[key]
        if isinstance(want, File):
            got_file = artifact_files().get(got) if isinstance(got, str) else None
            if got_file != want.name:
                lines.append(f"{key}: {got!r} is {got_file!r}, the reference's is {want.name!r}")
        elif got != want or isinstance(got, bool) != isinstance(want, bool):
            lines.append(f"{key}: {got!r}, the reference's is {want!r}")
    return lines


# ---------------------------------------------------------------------------------------------
# Citations.

CITATION = re.compile(r"\.\w+(?:@\w+)?:\d|§\s?\d|\.md \d|\bTable \d|\bpitfall \d")
"""A source: ``file.py:12`` (``README.md@ae1a69d:121``), a spec section, a paper table."""

I2I_MARK = re.compile(r"\bi2i's (?:own|choice|addition)\b")
"""How a comment says a field is i2i's own choice."""


def comment_of(line: str) -> str | None:
    """The comment at the end of a TOML line (``#`` outside strings), or None."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[index + 1 :].strip()
    return None


def uncited_fields(text: str, own: Collection[str] = ()) -> list[str]:
    """The fields of preset ``text`` whose comments name no source (``own``: i2i's own).

    A field's comment is the one at the end of its line, continued by comment lines just below
    it that are indented or end its group (a blank line, a table or the end follows); a field
    with none at the end of its line may have it just above instead, unless that opens the file.
    """
    lines = text.splitlines()
    kinds = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            kinds.append("blank")
        elif stripped.startswith("#"):
            kinds.append("comment")
        elif stripped.startswith("["):
            kinds.append("table")
        else:
            kinds.append("field")
    missing, table = [], ""
    for index, line in enumerate(lines):
        if kinds[index] == "table":
            table = line.split("#", 1)[0].strip().strip("[]").strip() + "."
        if kinds[index] != "field":
            continue
        key = table + line.split("=", 1)[0].strip()
        trailing = comment_of(line)
        parts = [trailing or ""]
        below = index + 1
        while below < len(lines) and kinds[below] == "comment":
            below += 1
        block = lines[index + 1 : below]
        ends_group = below == len(lines) or kinds[below] in ("blank", "table")
        if block and (ends_group or all(b[:1].isspace() for b in block)):
            parts += [b.strip() for b in block]
        above = index
        while above > 0 and kinds[above - 1] == "comment":
            above -= 1
        if trailing is None and above > 0:
            parts += [b.strip() for b in lines[above:index]]
        said = " ".join(parts)
        if not (I2I_MARK if key in own else CITATION).search(said):
            missing.append(key)
    return missing


# ---------------------------------------------------------------------------------------------
# The promises.


def test_every_shipped_preset_has_reference_values() -> None:
    assert shipped_presets(), "no preset found: is the repository layout still plugins/*/...?"
    assert [path for path in shipped_presets() if path not in REFERENCE] == []


def test_every_shipped_preset_is_read_by_a_registered_plugin() -> None:
    assert [p for p in shipped_presets() if (ROOT / p).parent.resolve() not in owners()] == []


@pytest.mark.parametrize("path", shipped_presets())
def test_preset_gives_the_reference_values(path: str) -> None:
    assert differences(REFERENCE.get(path, {}), resolved(path)) == []


@pytest.mark.parametrize("path", shipped_presets())
def test_every_preset_field_cites_its_source(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert uncited_fields(text, I2I_OWN.get(path, ())) == []


def test_a_value_other_than_the_reference_is_reported() -> None:
    actual = resolved("plugins/i2i_egsde/tasks/egsde/cat2dog.toml")
    assert differences(REFERENCE["plugins/i2i_egsde/tasks/egsde/cat2dog.toml"], actual) == []
    wrong = {**actual, "start_step": 400, "energy.0.checkpoint": "egsde_wild2dog_dse"}
    assert differences(REFERENCE["plugins/i2i_egsde/tasks/egsde/cat2dog.toml"], wrong) == [
        "start_step: 400, the reference's is 500",
        "energy.0.checkpoint: 'egsde_wild2dog_dse' is 'wild2dog_dse.pt', the reference's is "
        "'cat2dog_dse.pt'",
    ]


def test_a_field_without_a_source_is_reported() -> None:
    text = "\n".join(
        [
            "# header: egsde.md §2 (does not cite the fields below it)",
            "steps = 18",
            "w1 = 2.0  # --dg_weight_1st_order default (generate.py:125)",
            "boosting = false  # no boosting",
            "",
            "[run]",
            "# --batch default (generate.py:100)",
            "batch_size = 100",
            "cycle = true  # i2i's addition",
        ]
    )
    assert uncited_fields(text) == ["steps", "boosting", "run.cycle"]
    assert uncited_fields(text, {"run.cycle"}) == ["steps", "boosting"]
