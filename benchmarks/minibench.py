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

The parts, beside this file: ``minicli`` (running ``i2i``), ``minimake`` (training the models,
the manifest), ``minireport`` (the rows, the table, the picture).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from minicli import counted_calls, run_i2i, write_config  # noqa: E402
from minidomains import read_contents, write_domains  # noqa: E402
from minimake import QUICK_BUDGET, Budget, train_models, write_manifest  # noqa: E402
from minimeasure import (  # noqa: E402
    Measurement,
    frechet,
    measure,
    measure_folder,
    random_pairing,
    target_rate,
)
from minimethods import FILES, FULL, METHODS, QUICK, Knobs, method_settings, model_paths  # noqa: E402
from minireport import DENOISERS, Row, picture, row_of, table  # noqa: E402

SHIPPED = HERE / "minimodels"
"""The trained models shipped with the repository (``minimodels/manifest.toml``)."""


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
