"""The mini-benchmark: every method translates discs into squares, measured exactly.

``python benchmarks/minibench.py`` generates the two 16 x 16 domains (``minidomains``: A =
discs, B = squares with the same centre, area and colour), trains tiny models with i2i's own
trainers through the CLI (a diffusion model per domain, EGSDE's DSE on both, the SDE-BBDM bridge
on the pairs, DG's discriminator on real vs generated squares), translates one fixed held-out set
with sdedit, egsde, ilvr, ddib, sddm and sde-bbdm, samples DG with and without its
discriminator, and writes ``table.md`` / ``results.json`` and ``picture.png`` to ``--output``:

- target rate: the fraction of outputs measured as squares (``minimeasure``, no classifier);
- content error against each source: centre (px), sqrt(area) (px), colour (0-255);
- FD: Fréchet distance of the measured features to real squares (``minimeasure.frechet``);
- NFE: denoiser evaluations per image (counted), images/s (the whole command, 1 process).

``--models DIR`` translates with models already trained (e.g. the shipped
``benchmarks/minimodels``) instead of training. Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from minidomains import SIZE, read_contents, write_domains  # noqa: E402
from minimeasure import (  # noqa: E402
    Measurement,
    content_error,
    frechet,
    measure,
    measure_folder,
    random_pairing,
    target_rate,
)
from minimethods import (  # noqa: E402
    BRIDGE,
    BRIDGE_PRESET,
    BRIDGE_STEPS,
    DSE,
    DSE_PRESET,
    FILES,
    FULL,
    HEAD,
    HEAD_PRESET,
    MANIFEST,
    METHODS,
    QUICK,
    UNET,
    UNET_PRESET,
    Knobs,
    file_sha256,
    method_settings,
    model_paths,
    unet,
)

SHIPPED = HERE / "minimodels"
"""The trained models shipped with the repository (``minimodels/manifest.toml``)."""
DENOISERS = ("UNetModel", "BridgeUNet")
"""Module classes whose calls are the NFE (adm-unet, bbdm-unet)."""


@dataclass(frozen=True)
class Budget:
    """Training lengths of one run."""

    diffusion_steps: int = 4000
    dse_steps: int = 800
    bridge_steps: int = 1000
    fake_samples: int = 256
    discriminator_epochs: int = 15


QUICK_BUDGET = Budget(200, 100, 200, 64, 2)


def run_i2i(*groups: Sequence[str]) -> None:
    """Run ``i2i`` with the arguments of ``groups`` (joined) in this process; a non-zero exit
    stops the benchmark with its status."""
    from i2i_cli.cli.app import app

    args = [arg for group in groups for arg in group]
    print("$ i2i " + " ".join(args), flush=True)
    try:  # without standalone mode a command's exit status (130 for Ctrl-C) is returned
        status = app(list(args), prog_name="i2i", standalone_mode=False)
    except SystemExit as stop:
        status = stop.code
    if status not in (0, None):
        verb = "was interrupted" if status == 130 else "failed"
        raise SystemExit(f"i2i {args[0]} {args[1]} {verb} (exit {status}); the benchmark stops")


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """Write ``settings`` as a ``--config`` TOML file."""
    from i2i_cli.api.settings import to_toml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_toml(settings), encoding="utf-8")
    return path


@contextmanager
def counted_calls(counts: dict[str, int]) -> Iterator[None]:
    """Count, per module class name, the items every module forward sees (batch sizes summed)."""
    import torch

    def hook(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        name = type(module).__name__
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
            counts[name] = counts.get(name, 0) + int(inputs[0].shape[0])

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def diffusion_trainer_available() -> bool:
    """Whether ``i2i train diffusion`` loads (the i2i_diffusion trainer is installed)."""
    from i2i_cli.api.registry import Registry

    try:
        Registry.discover().load("trainers", "diffusion")
    except Exception:
        return False
    return True


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


def finished(command: Sequence[str]) -> bool:
    """Whether the ``--output`` folder of an ``i2i`` command holds a finished run."""
    if "--output" not in command:
        return False
    output = Path(command[list(command).index("--output") + 1])
    return (output / "result.json").is_file()


def run_lanes(lanes: Sequence[Sequence[list[str]]], jobs: int) -> None:
    """Run each lane's ``i2i`` commands in order; with ``jobs`` > 1 the lanes run side by side,
    each in its own ``python -m i2i_cli`` processes (one thread each, OMP_NUM_THREADS=1).

    A command whose ``--output`` already holds a finished run (``result.json``) is skipped, so
    a benchmark stopped half-way continues where it was."""
    lanes = [[c for c in lane if not finished(c)] for lane in lanes]
    if jobs <= 1:
        for lane in lanes:
            for command in lane:
                run_i2i(command)
        return
    import os
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    environment = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run_lane(lane: Sequence[list[str]]) -> None:
        for command in lane:
            print("$ i2i " + " ".join(command), flush=True)
            result = subprocess.run(
                [sys.executable, "-m", "i2i_cli", *command],
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise SystemExit(f"i2i {command[0]} {command[1]} failed:\n{result.stderr[-2000:]}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes]:
            future.result()


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


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    method: str
    target_rate: float
    position: float
    size: float
    colour: float
    fd: float
    nfe: float | None
    images_per_s: float | None
    note: str = ""


def row_of(
    method: str,
    measured: Sequence[Measurement],
    sources: Sequence[Any],
    reference: Sequence[Measurement],
    calls: dict[str, int] | None = None,
    seconds: float | None = None,
    note: str = "",
) -> Row:
    """The table row of outputs ``measured`` (paired with source contents ``sources``)."""
    count = len(measured)
    errors = content_error([(s, m.content) for s, m in zip(sources, measured, strict=True)])
    nfe = None
    if calls is not None:
        nfe = sum(calls.get(name, 0) for name in DENOISERS) / count
    return Row(
        method,
        target_rate(measured),
        errors.position,
        errors.size,
        errors.colour,
        frechet(measured, reference),
        nfe,
        count / seconds if seconds else None,
        note,
    )


def translate_all(
    data: Path, models: Path, output: Path, knobs: Knobs, batch: int
) -> dict[str, tuple[dict[str, int], float]]:
    """Translate ``data/test/A`` with every method; per method its call counts and seconds."""
    paths = model_paths(models)
    results = {}
    for method in METHODS:
        config = write_config(
            output / "configs" / f"{method}.toml", method_settings(method, paths, knobs)
        )
        counts: dict[str, int] = {}
        started = time.perf_counter()
        with counted_calls(counts):
            run_i2i(
                ["translate", method, "--config", str(config), "--input", str(data / "test/A")],
                ["--output", str(output / method), "--batch-size", str(batch), "--seed", "0"],
                ["--device", "cpu", "--overwrite"],
            )
        results[method] = (counts, time.perf_counter() - started)
    return results


def sample_dg_rows(
    models: Path, output: Path, count: int, reference: Sequence[Measurement], w1: float
) -> tuple[list[Row], dict[str, np.ndarray]]:
    """DG's two rows (w1 = 0 and ``w1``): the target model's samples of seeds 0 .. count-1."""
    from minidg import dg_samples

    rows, images = [], {}
    for weight in (0.0, w1):
        counts: dict[str, int] = {}
        started = time.perf_counter()
        with counted_calls(counts):
            pixels = dg_samples(model_paths(models), count, w1=weight, output=output / "dg")
        seconds = time.perf_counter() - started
        measured = [measure(p) for p in pixels]
        label = f"dg (w1 = {weight:g})"
        note = "sampling, no source" if weight == 0 else "sampling with the discriminator"
        errors = Row(
            label,
            target_rate(measured),
            math.nan,
            math.nan,
            math.nan,
            frechet(measured, reference),
            sum(counts.get(n, 0) for n in DENOISERS) / count,
            count / seconds,
            note,
        )
        rows.append(errors)
        images[label] = pixels
    return rows, images


def fmt(value: float | None, digits: int = 2) -> str:
    """A table cell: a number, or a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    """The Markdown table of ``rows``."""
    head = (
        "| method | target rate | centre err (px) | size err (px) | colour err (0-255) "
        "| FD to real squares | NFE | images/s |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r.method} | {r.target_rate:.2f} | {fmt(r.position)} | {fmt(r.size)} | "
        f"{fmt(r.colour, 1)} | {fmt(r.fd, 1)} | {fmt(r.nfe, 0)} | "
        f"{fmt(r.images_per_s, 1)} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def picture(rows: Sequence[tuple[str, Sequence[np.ndarray]]], path: Path, scale: int = 4) -> None:
    """One row of images per label (upscaled by ``scale``, nearest), its name on the left."""
    from PIL import Image, ImageDraw

    cell = SIZE * scale
    pad = 2
    label_width = 120
    columns = max(len(images) for _, images in rows)
    width = label_width + columns * (cell + pad)
    height = len(rows) * (cell + pad)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        y = r * (cell + pad)
        draw.text((4, y + cell // 2 - 6), label, fill=(0, 0, 0))
        for c, pixels in enumerate(images):
            tile = Image.fromarray(pixels).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (label_width + c * (cell + pad), y))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def main() -> None:
    """Generate, train (or take ``--models``), translate, measure; write table and picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("runs/minibench"))
    parser.add_argument("--models", type=Path, default=None, help="Trained models (no training).")
    parser.add_argument("--images", type=int, default=64, help="Held-out sources.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: tiny budgets.")
    parser.add_argument("--dg-weight", type=float, default=2.0, help="DG's w1.")
    parser.add_argument("--dg-samples", type=int, default=256, help="DG samples per row.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--manifest", action="store_true", help="Only (re)write <output>/models/manifest.toml."
    )
    parser.add_argument("--jobs", type=int, default=2, help="Trainings side by side (1 or 2).")
    parser.add_argument("--show", type=int, default=8, help="Sources in the picture.")
    args = parser.parse_args()
    started = time.perf_counter()
    out = args.output
    command = "OMP_NUM_THREADS=1 python benchmarks/minibench.py" + (" --quick" * args.quick)
    if args.manifest:
        print(write_manifest(out / "models", out / "train", command))
        return
    data = out / "data"
    write_domains(data, test=args.images, seed=args.seed)
    contents = read_contents(data)
    models = args.models
    if models is None:
        models = out / "models"
        budget = QUICK_BUDGET if args.quick else Budget()
        train_models(data, out / "train", models, budget, args.seed, args.jobs)
        write_manifest(models, out / "train", command)
    trained = time.perf_counter()
    knobs = QUICK if args.quick else FULL
    runs = translate_all(data, models, out / "translate", knobs, batch=64)
    names = sorted(contents["test"])
    sources = [contents["test"][n] for n in names]
    reference = list(measure_folder(data / "real" / "B").values())
    rows = [
        row_of(
            "source (discs)",
            list(measure_folder(data / "test/A", names).values()),
            sources,
            reference,
            note="the input itself",
        ),
        row_of(
            "ideal (paired squares)",
            list(measure_folder(data / "test/B", names).values()),
            sources,
            reference,
            note="the drawn translation",
        ),
        row_of(
            "random pairing",
            list(measure_folder(data / "test/B", names).values()),
            [other for _, other in random_pairing(sources)],
            reference,
            note="squares of other sources",
        ),
    ]
    outputs = {}
    for method, (counts, seconds) in runs.items():
        measured = measure_folder(out / "translate" / method, names)
        rows.append(row_of(method, list(measured.values()), sources, reference, counts, seconds))
        outputs[method] = measured
    dg_rows, dg_images = sample_dg_rows(models, out, args.dg_samples, reference, args.dg_weight)
    rows += dg_rows
    text = table(rows)
    total = time.perf_counter() - started
    (out / "table.md").write_text(text, encoding="utf-8")
    record = {
        "rows": [asdict(r) for r in rows],
        "seconds": {"total": total, "training": trained - started},
        "knobs": asdict(knobs),
        "images": args.images,
        "models": str(models),
        "files": FILES,
    }
    (out / "results.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    from minimeasure import read_pixels

    shown = names[: args.show]
    gallery = [
        ("source", [read_pixels(data / "test/A" / n) for n in shown]),
        ("ideal", [read_pixels(data / "test/B" / n) for n in shown]),
    ]
    gallery += [(m, [read_pixels(out / "translate" / m / n) for n in shown]) for m in METHODS]
    gallery += [(label, list(px[: args.show])) for label, px in dg_images.items()]
    picture(gallery, out / "picture.png")
    print(text)
    print(f"total {total:.0f} s (training {trained - started:.0f} s); {out}")


if __name__ == "__main__":
    main()
