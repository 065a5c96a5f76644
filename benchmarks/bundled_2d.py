"""Train, measure and install the bundled 2-D DDIB models (plugins/i2i_ddib/models).

    python benchmarks/bundled_2d.py --work /tmp/bundled-2d --jobs 2 --install

Each data set's model is trained by the exact command the manifest records (``i2i train
ddib-2d --task NAME --quick``, one CPU thread per job), then measured as
``tests/test_ddib_bundled.py`` measures it: 3000 Gaussian latents of seed 0 decoded with the
default solver and steps, scored by support precision and coverage (``i2i_cli.points.support``, data
draws of seed 1). ``--install`` copies the weights into the package and rewrites the manifest
with each model's sha256, command, training time, final loss and scores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "i2i_ddib" / "models"
SAMPLES = 3000
"""Latents decoded per model, as the bundled-model test decodes them."""


def train_command(name: str, extra: list[str]) -> list[str]:
    """The recorded training command of data set ``name`` (without ``--output``)."""
    return ["i2i", "train", "ddib-2d", "--task", name, "--quick", *extra]


def train(name: str, work: Path, extra: list[str]) -> dict[str, Any]:
    """Run the training command on one thread (unless its run finished); command, time, loss.

    The time is the trainer's own (``metrics.jsonl``: seconds of training, startup excluded).
    """
    output = work / name
    command = train_command(name, extra)
    if not (output / "model.pt").is_file():
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        run = [sys.executable, "-m", "i2i_cli", *command[1:], "--output", str(output)]
        result = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    lines = (output / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1])
    print(f"{name}: {last['step']} steps in {last['seconds']:.0f} s, loss {last['loss']:.4f}")
    return {
        "command": " ".join(command),
        "seconds": last["seconds"],
        "loss": last["loss"],
        "steps": last["step"],
        "output": output,
    }


def measure(name: str, weights: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """The model settings of ``weights`` and its support scores (the bundled test's protocol)."""
    import torch

    from i2i_cli.diffusion.denoiser import DiscreteDenoiser
    from i2i_cli.diffusion.noise import GeneratorNoise
    from i2i_cli.diffusion.ode import decode_ode, solver_schedule
    from i2i_cli.networks.backbones import load_backbone
    from i2i_cli.points.support import support_scores
    from i2i_cli.points.synthetic_data import synthetic_task
    from i2i_ddib.settings import DDIB2DTrainSettings
    from i2i_ddib.train import model_settings

    quick = DDIB2DTrainSettings(data=name, quick=True)
    model = model_settings(quick).model_dump()
    model = {key: model[key] for key in ("num_channels", "num_res_blocks", "dropout")} | {
        key: model[key] for key in ("diffusion_steps", "noise_schedule")
    }
    loaded = load_backbone("ddib-2d", overrides=model, checkpoint=weights)
    denoiser = DiscreteDenoiser(loaded.module, loaded.spec)
    grid = solver_schedule(loaded.spec.discrete_process().schedule(), "dpmpp2m", None)
    latent = torch.randn(SAMPLES, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        samples = decode_ode(denoiser, latent, grid, solver="dpmpp2m", noise=GeneratorNoise(0))
    scores = support_scores(samples.numpy(), synthetic_task(name), seed=1)
    return model, {
        "precision": round(scores.precision, 4),
        "coverage": round(scores.coverage, 4),
        "data_coverage": round(scores.data_coverage, 4),
    }


def manifest_table(
    name: str, trained: dict[str, Any], model: dict[str, Any], scores: dict[str, float]
) -> dict[str, Any]:
    """The manifest table of one installed model (its file is already in the package)."""
    from i2i_ddib.settings import DDIB2DTrainSettings

    sha256 = hashlib.sha256((PACKAGE / f"{name}.pt").read_bytes()).hexdigest()
    return {
        "file": f"{name}.pt",
        "sha256": sha256,
        "command": trained["command"],
        "weights": DDIB2DTrainSettings(data=name, quick=True).export,
        "trained": f"{trained['steps']} steps, {trained['seconds']:.0f} s on 1 CPU thread, "
        f"final loss {trained['loss']:.4f}",
        "support": scores,
        "model": model,
    }


def write_manifest(tables: dict[str, dict[str, Any]]) -> None:
    """Replace the named models' tables in the package manifest, keeping its leading comment
    and every other table (the benchmark models').

    Comments further down are not kept (TOML rewriting loses them).
    """
    from i2i_cli.api.settings import parse_toml, to_toml

    path = PACKAGE / "manifest.toml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    leading = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    header = "".join(lines[:leading])
    manifest = parse_toml(text, str(path))
    manifest.setdefault("models", {}).update(tables)
    path.write_text(header + "\n" + to_toml(manifest), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="Training runs go here.")
    parser.add_argument("--names", nargs="*", default=None, help="Data sets (default: all six).")
    parser.add_argument("--jobs", type=int, default=2, help="Trainings at once (1 thread each).")
    parser.add_argument("--install", action="store_true", help="Copy into the package.")
    parser.add_argument("--extra", default="", help="More training flags (not for --install).")
    args = parser.parse_args()
    from i2i_cli.points.synthetic_data import TASK_NAMES

    names = args.names or list(TASK_NAMES)
    extra = args.extra.split()
    if args.install and extra:
        raise SystemExit("--install records the plain --quick command; drop --extra")
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = dict(zip(names, pool.map(lambda n: train(n, args.work, extra), names), strict=True))
    tables = {}
    for name in names:
        weights = runs[name]["output"] / "model.pt"
        model, scores = measure(name, weights)
        print(f"{name}: {scores}", flush=True)
        if args.install:
            shutil.copyfile(weights, PACKAGE / f"{name}.pt")
            tables[name] = manifest_table(name, runs[name], model, scores)
    if args.install:
        write_manifest(tables)


if __name__ == "__main__":
    main()
