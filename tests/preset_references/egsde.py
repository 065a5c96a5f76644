"""EGSDE's, SDEdit's, ILVR's and the DSE extractors' task presets (egsde.md, sddm.md §10)."""

from __future__ import annotations

from typing import Any

from tests.preset_references.common import File

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


REFERENCE: dict[str, dict[str, Any]] = {
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
}
"""Each preset file -> the values the reference uses."""
