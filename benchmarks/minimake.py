"""Making the mini-benchmark's models: i2i's trainers in two lanes, the VGG stand-in, a manifest."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minicli import diffusion_trainer_available, run_lanes, write_config
from minidomains import SIZE
from minimethods import (
    BRIDGE,
    BRIDGE_PRESET,
    BRIDGE_STEPS,
    DSE,
    DSE_PRESET,
    FILES,
    HEAD,
    HEAD_PRESET,
    MANIFEST,
    UNET,
    UNET_PRESET,
    file_sha256,
    model_paths,
    unet,
)


@dataclass(frozen=True)
class Budget:
    """Training lengths of one run."""

    diffusion_steps: int = 4000
    dse_steps: int = 800
    bridge_steps: int = 1000
    fake_samples: int = 256
    discriminator_epochs: int = 15


QUICK_BUDGET = Budget(200, 100, 200, 64, 2)


def diffusion_command(data: Path, output: Path, steps: int, seed: int) -> list[str]:
    """``i2i train diffusion`` of one domain's model (its settings in ``<output>.toml``)."""
    config = write_config(
        output.parent / f"{output.name}.toml",
        {"data": str(data), "preset": UNET_PRESET, "model": dict(UNET)},
    )
    return [
        *("train", "diffusion", "--config", str(config), "--iterations", str(steps)),
        *("--batch-size", "32", "--lr", "5e-4", "--ema-decay", "0.999", "--workers", "0"),
        *("--checkpoint-every", str(steps), "--log-every", "50"),
        *("--output", str(output), "--seed", str(seed), "--device", "cpu"),
    ]


def write_vgg_standin(path: Path, seed: int = 0) -> Path:
    """SDDM's encoder to relu1_1 with seeded weights (the VGG-19 file cannot be downloaded).

    Module 0 (the 1x1 colour conv) is the identity; module 2 is 64 3x3 filters N(0, 2/27),
    bias 0: a fixed random filter bank in place of VGG's conv1_1. Keys as the official file's.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = {
        "0.weight": torch.eye(3).reshape(3, 3, 1, 1),
        "0.bias": torch.zeros(3),
        "2.weight": torch.randn(64, 3, 3, 3, generator=generator) * math.sqrt(2 / 27),
        "2.bias": torch.zeros(64),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def train_models(
    data: Path, work: Path, models: Path, budget: Budget, seed: int, jobs: int = 2
) -> None:
    """Train every model with i2i's trainers and copy its weights to ``models``.

    Two rounds of two lanes (side by side with ``jobs`` = 2): the diffusion models of B and A;
    then the bridge, and the DSE -> samples of B's model -> DG's discriminator on them.
    """
    models.mkdir(parents=True, exist_ok=True)
    paths = model_paths(models)
    sides = (("B", "diffusion_b"), ("A", "diffusion_a"))
    if diffusion_trainer_available():
        run_lanes(
            [
                [diffusion_command(data / "train" / s, work / n, budget.diffusion_steps, seed)]
                for s, n in sides
            ],
            jobs,
        )
    else:
        from minitrain import train_diffusion

        print("i2i train diffusion is not installed: the core-loop fallback (minitrain.py)")
        for side, name in sides:
            train_diffusion(data / "train" / side, work / name, UNET, steps=budget.diffusion_steps)
    for _, name in sides:
        shutil.copyfile(work / name / "model.pt", paths[name])
    dse = write_config(
        work / "dse.toml",
        {
            "data_a": str(data / "train/A"),
            "data_b": str(data / "train/B"),
            "preset": DSE_PRESET,
            "model": dict(DSE),
        },
    )
    bridge = write_config(work / "bridge.toml", {"preset": BRIDGE_PRESET, "model": dict(BRIDGE)})
    sampler = write_config(
        work / "fake.toml", {**unet(paths["diffusion_b"]), "sampler": "ddim", "steps": 50}
    )
    head = write_config(
        work / "discriminator.toml",
        {
            "real": str(data / "real/B"),
            "fake": str(work / "fake"),
            "preset": HEAD_PRESET,
            "model": dict(HEAD),
            "extractor_preset": DSE_PRESET,
            "extractor_model": dict(DSE),
            "extractor_checkpoint": str(work / "dse" / "model.pt"),
        },
    )
    seeded = ["--seed", str(seed), "--device", "cpu"]
    bridge_lane = [
        [
            *("train", "bbdm", "--config", str(bridge), "--data", str(data), "--layout", "ab"),
            *("--split", "train", "--image-size", str(SIZE), "--steps", str(BRIDGE_STEPS)),
            *("--batch-size", "32", "--iterations", str(budget.bridge_steps), "--lr", "5e-4"),
            *("--ema-decay", "0.999", "--workers", "0", "--log-every", "50"),
            *("--checkpoint-every", str(budget.bridge_steps), "--output", str(work / "bridge")),
            *seeded,
        ]
    ]
    guidance_lane = [
        [
            *("train", "dse", "--config", str(dse), "--init-checkpoint", ""),
            *("--iterations", str(budget.dse_steps), "--batch-size", "32", "--lr", "1e-3"),
            *("--checkpoint-every", str(budget.dse_steps), "--output", str(work / "dse")),
            *seeded,
        ],
        [
            *("sample", "diffusion", "--config", str(sampler)),
            *("--num-samples", str(budget.fake_samples), "--batch-size", "64"),
            *("--output", str(work / "fake"), "--seed", str(seed + 1), "--device", "cpu"),
        ],
        [
            *("train", "discriminator", "--config", str(head)),
            *("--num-data", str(budget.fake_samples)),
            *("--epochs", str(budget.discriminator_epochs), "--batch-size", "32"),
            *("--lr", "1e-3", "--no-keep-epochs", "--log-every", "10"),
            *("--output", str(work / "discriminator"), *seeded),
        ],
    ]
    run_lanes([bridge_lane, guidance_lane], jobs)
    for name in ("dse", "bridge", "discriminator"):
        shutil.copyfile(work / name / "model.pt", paths[name])
    write_vgg_standin(paths["vgg"], seed)


NETWORKS = {
    "diffusion_a": ("adm-unet", UNET_PRESET, UNET, "diffusion"),
    "diffusion_b": ("adm-unet", UNET_PRESET, UNET, "diffusion"),
    "dse": ("adm-classifier", DSE_PRESET, DSE, "dse"),
    "bridge": ("bbdm-unet", BRIDGE_PRESET, BRIDGE, "bbdm"),
    "discriminator": ("dg-discriminator", HEAD_PRESET, HEAD, "discriminator"),
    "vgg": ("adain-vgg", "vgg_normalised", {"layers": "used"}, None),
}
"""Per model: backbone, preset, overrides and the ``i2i train`` trainer that made it."""


def store_half(path: Path) -> None:
    """Rewrite a state-dict file with its floating tensors in float16 (half the size to ship;
    the loaders copy them into float32 networks)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save(half, path)


def write_manifest(models: Path, work: Path, command: str) -> Path:
    """``models/manifest.toml``: per model its file, sha256, network and the trainer's settings.

    Every file is first stored in float16 (``store_half``; idempotent).

    The settings are the trainer's resolved ``run.toml`` (paths under the benchmark's
    ``--output`` written ``<output>``), so ``i2i train <trainer> --config`` of that table, with
    the paths filled in, retrains the model.
    """
    from i2i_cli.api.settings import read_toml, to_toml

    entries: dict[str, Any] = {}
    for name, (backbone, preset, overrides, trainer) in NETWORKS.items():
        store_half(models / FILES[name])
        entry: dict[str, Any] = {
            "file": FILES[name],
            "sha256": file_sha256(models / FILES[name]),
            "backbone": backbone,
            "preset": preset,
            "model": dict(overrides),
        }
        if trainer is None:
            entry["command"] = "minibench.write_vgg_standin(path, seed=0): seeded, not trained"
        else:
            entry["command"] = f"i2i train {trainer} --config <settings>"
            settings = read_toml(work / name / "run.toml")
            settings.pop("i2i", None)
            entry["settings"] = {
                key: value.replace(str(work.parent), "<output>")
                if isinstance(value, str)
                else value
                for key, value in settings.items()
            }
        entries[name] = entry
    header = (
        "# The mini-benchmark's models (benchmarks/minibench.py), trained on 2 CPU cores by\n"
        f"#   {command}\n"
        "# each with i2i's own trainer; 'settings' is that trainer's resolved run.toml.\n"
        "# Weights are stored in float16 (the networks load them into float32).\n"
    )
    path = models / MANIFEST
    path.write_text(header + to_toml({"models": entries}), encoding="utf-8")
    return path
