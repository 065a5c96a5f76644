"""The mini-benchmark's networks and the settings every method translates them with.

One place for what ``minibench.py`` trains and translates with and what
``tests/test_minibench_bounds.py`` checks: the tiny architectures (as overrides of the official
presets, so each loads through the registry like any checkpoint), the file of each model in a
models folder, and per method the ``i2i translate`` settings (a TOML table) at full and at test
size. The domains are ``minidomains``: A = discs (source), B = squares (target), 16 x 16.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minidomains import SIZE

DIFFUSION_STEPS = 1000
"""T of the diffusion models' linear process (DG's VP times map onto it)."""

UNET: dict[str, Any] = {
    "image_size": SIZE,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1,2",
    "attention_resolutions": "",
    "learn_sigma": False,
    "resblock_updown": False,
    "diffusion_steps": DIFFUSION_STEPS,
    "noise_schedule": "linear",
}
"""adm-unet over the afhq_dog_4m preset: 16 -> 8 -> 4 px, 32/32/64 channels."""
UNET_PRESET = "afhq_dog_4m"

DSE: dict[str, Any] = {
    "image_size": SIZE,
    "width": 32,
    "depth": 1,
    "channel_mult": "1,2,2",
    "attention_resolutions": "",
    "pool": "adaptive",
    "out_channels": 2,
}
"""adm-classifier over the dse256 preset (EGSDE's I2Iout head): middle block 64 x 4 x 4."""
DSE_PRESET = "dse256"

BRIDGE: dict[str, Any] = {
    "image_size": SIZE,
    "model_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": [1, 1, 2],
    "attention_resolutions": [],
    "num_head_channels": 32,
    "resblock_updown": False,
}
"""bbdm-unet over the sde_bbdm preset (attention only in the 64-channel middle block)."""
BRIDGE_PRESET = "sde_bbdm"
BRIDGE_STEPS = 1000

HEAD: dict[str, Any] = {
    "image_size": 4,
    "in_channels": 64,
    "width": 32,
    "depth": 1,
    "channel_mult": "1",
    "attention_rates": "",
    "num_head_channels": 32,
}
"""dg-discriminator over the cifar10_uncond preset, on the DSE's 64 x 4 x 4 middle block."""
HEAD_PRESET = "cifar10_uncond"

FILES = {
    "diffusion_a": "diffusion_a.pt",
    "diffusion_b": "diffusion_b.pt",
    "dse": "dse.pt",
    "bridge": "bridge.pt",
    "discriminator": "discriminator.pt",
    "vgg": "vgg_relu1_1.pt",
}
"""Each model's file in a models folder."""

METHODS = ("sdedit", "egsde", "ilvr", "ddib", "sddm", "sde-bbdm")
"""The translation methods, in table order (dg samples: ``minidg``)."""


@dataclass(frozen=True)
class Knobs:
    """The step counts a run uses: the benchmark's, or fewer for the CI test."""

    start_step: int = 500
    respacing: int = 100
    ddib_steps: int = 50
    bridge_taus: int = 50


FULL = Knobs()
QUICK = Knobs(start_step=200, respacing=25, ddib_steps=10, bridge_taus=10)


def model_paths(folder: Path) -> dict[str, Path]:
    """Every model's path in ``folder``."""
    return {name: folder / file for name, file in FILES.items()}


def unet(checkpoint: Path) -> dict[str, Any]:
    """The target or source diffusion model as a method's backbone settings."""
    return {
        "backbone": "adm-unet",
        "preset": UNET_PRESET,
        "checkpoint": str(checkpoint),
        "model": dict(UNET),
    }


def taus(count: int, steps: int = BRIDGE_STEPS) -> str:
    """``count`` evenly spaced bridge steps from T down to 1 (the fast sampler's list)."""
    points = sorted({round(steps - k * (steps - 1) / (count - 1)) for k in range(count)})
    return ",".join(str(t) for t in reversed(points))


def method_settings(method: str, models: Mapping[str, Path], knobs: Knobs = FULL) -> dict[str, Any]:
    """The ``i2i translate <method>`` settings (``--config`` TOML) on the models of ``models``."""
    target = unet(models["diffusion_b"])
    dse = {
        "name": "dse",
        "weight": 100.0,
        "checkpoint": str(models["dse"]),
        "preset": DSE_PRESET,
        "model": dict(DSE),
    }
    lowpass = {"name": "lowpass", "weight": 2.0, "factor": 4}
    respaced = str(knobs.respacing)
    if method == "sdedit":
        return {**target, "start_step": knobs.start_step}
    if method == "egsde":
        return {**target, "start_step": knobs.start_step, "energy": [dse, lowpass]}
    if method == "ilvr":
        return {
            **target,
            "respacing": respaced,
            "down_n": 4,
            "range_t": knobs.respacing // 5,
        }
    if method == "ddib":
        source = unet(models["diffusion_a"])
        return {
            "backbone": "adm-unet",
            "preset": UNET_PRESET,
            "model": dict(UNET),
            "source_checkpoint": source["checkpoint"],
            "target_checkpoint": target["checkpoint"],
            "solver": "ddim",
            "steps": knobs.ddib_steps,
            "clip_denoised": True,
        }
    if method == "sddm":
        vgg = {
            "name": "vgg-adain",
            "weight": 25.0,
            "checkpoint": str(models["vgg"]),
            "model": {"layers": "used"},
        }
        return {
            **target,
            "respacing": respaced,
            "range_t": round(knobs.respacing * 0.4),
            "area": 4,
            "energy": [vgg],
        }
    if method == "sde-bbdm":
        return {
            "backbone": "bbdm-unet",
            "preset": BRIDGE_PRESET,
            "model": dict(BRIDGE),
            "checkpoint": str(models["bridge"]),
            "steps": BRIDGE_STEPS,
            "sampler": "fast",
            "taus": taus(knobs.bridge_taus),
            "image_size": SIZE,
        }
    raise ValueError(f"unknown method {method!r}")


MANIFEST = "manifest.toml"
"""Each models folder's record: per model its file, sha256, network and training command."""


def file_sha256(path: Path) -> str:
    """The sha256 of a file, hex."""
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified_models(folder: Path) -> dict[str, Path]:
    """The models of ``folder`` after checking each file's sha256 against its manifest."""
    from i2i_cli.api.settings import read_toml
    from i2i_cli.base.errors import I2IError

    table = read_toml(folder / MANIFEST)["models"]
    paths = model_paths(folder)
    for name, path in paths.items():
        digest = file_sha256(path)
        if digest != table[name]["sha256"]:
            raise I2IError(f"mini model {path} is damaged (sha256 {digest[:12]}...)")
    return paths
