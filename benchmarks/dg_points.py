"""Discriminator Guidance on 2-D points: does DG correct a measurably wrong score?

    python benchmarks/dg_points.py --work /tmp/dg-points --jobs 2

Every number comes from the CLI, run as the docs run it (docs/methods/dg.md), one CPU thread
per command, ``--jobs`` commands at once. Per seed s and case:

1. plain samples: ``i2i sample dg --task concentric-rings-2d --w1 0 --seed 100+s
   --num-samples 10000`` (the fakes; the bundled good model with ``--checkpoint``);
2. a discriminator: ``i2i train discriminator --task concentric-rings-2d --seed s --fake ...``
   (the few-samples case adds ``--num-data N``: N fakes against N real points);
3. for each w1: ``i2i sample dg --task concentric-rings-2d --w1 W --seed s`` (3000 points)
   scored by ``result.json``: support precision and coverage against the data, and the sliced
   Wasserstein distance to a fresh draw.

Cases: ``under-trained`` (the shipped [benchmark] model, the train task's 10000 fakes),
``few fakes`` (the same model, a discriminator trained on ``--few`` fakes: the case the DG paper
warns of), and ``good`` (the bundled Concentric Rings model, which DG should leave alone). The
tables go to stdout (markdown) and ``<work>/table.md``; the discriminators' accuracy per VP-time
bin (their last ``metrics.jsonl`` line, mean over seeds) follows. ``--picture PATH`` writes the
docs' figure: the data, the under-trained model's plain samples and DG's, from seed 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK = "concentric-rings-2d"
GOOD = "package:i2i_ddib.models/concentric_rings.pt"
FAKES = 10_000
POINTS = 3000


@dataclass(frozen=True)
class Case:
    """One model and one discriminator recipe, swept over w1."""

    name: str
    checkpoint: str | None
    """The eps model (None: the task preset's under-trained one)."""
    num_data: int | None
    """Fakes the discriminator sees (None: the train task's)."""
    fakes_from: str
    """The case whose plain samples it trains on (its own name, or a shared one)."""


CASES = (
    Case("under-trained", None, None, "under-trained"),
    Case("few fakes", None, None, "under-trained"),
    Case("good", GOOD, None, "good"),
)


def i2i(args: Sequence[str], cwd: Path) -> None:
    """Run one i2i command on one thread; its output goes to ``<out>.log`` beside it."""
    out = Path(args[args.index("--output") + 1])
    if (out / "result.json").is_file():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with (out.parent / f"{out.name}.log").open("w") as log:
        done = subprocess.run(
            ["i2i", *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): i2i {' '.join(args)}; see {log.name}")


def model_flags(case: Case) -> list[str]:
    """``--checkpoint`` for a case that does not sample the preset's model."""
    return [] if case.checkpoint is None else ["--checkpoint", case.checkpoint]


def fake_run(work: Path, case: Case, seed: int) -> list[str]:
    """The plain-samples command (the discriminator's fakes) of a case and seed."""
    out = work / case.fakes_from / f"seed{seed}" / "fake"
    return ["sample", "dg", "--task", TASK, "--w1", "0", "--seed", str(100 + seed),
            "--num-samples", str(FAKES), *model_flags(case), "--output", str(out)]  # fmt: skip


def train_run(work: Path, case: Case, seed: int, few: int) -> list[str]:
    """The discriminator-training command of a case and seed."""
    fake = work / case.fakes_from / f"seed{seed}" / "fake" / "points.npy"
    out = work / case.name / f"seed{seed}" / "discriminator"
    limit = ["--num-data", str(few)] if case.name == "few fakes" else []
    return ["train", "discriminator", "--task", TASK, "--seed", str(seed), "--fake", str(fake),
            *limit, "--output", str(out)]  # fmt: skip


def sample_run(work: Path, case: Case, seed: int, w1: float) -> list[str]:
    """The guided-sampling command of a case, seed and weight."""
    disc = work / case.name / f"seed{seed}" / "discriminator" / "model.pt"
    out = work / case.name / f"seed{seed}" / f"w{w1:g}"
    return ["sample", "dg", "--task", TASK, "--w1", f"{w1:g}", "--seed", str(seed),
            "--num-samples", str(POINTS), *model_flags(case),
            "--set", f"discriminator.checkpoint={disc}", "--output", str(out)]  # fmt: skip


def run_all(commands: list[list[str]], jobs: int, cwd: Path) -> None:
    """Every command, ``jobs`` at a time."""
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda args: i2i(args, cwd), commands))


def mean_sd(values: list[float]) -> str:
    """``mean ± sd`` over seeds (sd 0 for one seed)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def score_table(work: Path, seeds: list[int], weights: list[float], few: int) -> list[str]:
    """The markdown rows: case, w1, precision, coverage, sliced Wasserstein (over seeds)."""
    rows = [
        "| model | discriminator | w1 | support precision | coverage | sliced Wasserstein |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        for w1 in weights:
            results = [read_result(work / case.name / f"seed{s}" / f"w{w1:g}") for s in seeds]
            what = "the bundled model" if case.name == "good" else "under-trained"
            trained = f"on {few} fakes" if case.name == "few fakes" else f"on {FAKES} fakes"
            rows.append(
                f"| {what} | {trained if w1 else '-'} | {w1:g} | "
                f"{mean_sd([r['support_precision'] for r in results])} | "
                f"{mean_sd([r['support_coverage'] for r in results])} | "
                f"{mean_sd([r['sliced_wasserstein'] for r in results])} |"
            )
    return rows


def accuracy_table(work: Path, seeds: list[int]) -> list[str]:
    """The markdown rows: each case's discriminator accuracy per VP-time bin, mean over seeds."""
    rows: list[str] = []
    for case in CASES:
        lines = [last_accuracy(work / case.name / f"seed{s}" / "discriminator") for s in seeds]
        bins = list(lines[0]["accuracy_by_t"])
        if not rows:
            rows = [
                "| discriminator | " + " | ".join(f"t {b}" for b in bins) + " | overall |",
                "|---|" + "---|" * (len(bins) + 1),
            ]
        cells = [statistics.mean(line["accuracy_by_t"][b] or 0.0 for line in lines) for b in bins]
        overall = statistics.mean(line["accuracy"] for line in lines)
        rows.append(
            f"| {case.name} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {overall:.2f} |"
        )
    return rows


def read_result(out: Path) -> dict[str, Any]:
    """A run's result.json."""
    return json.loads((out / "result.json").read_text())


def last_accuracy(out: Path) -> dict[str, Any]:
    """The last accuracy line of a discriminator run's metrics.jsonl."""
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"accuracy"' in line][-1]


def picture(work: Path, path: Path, w1: float) -> None:
    """Data, the under-trained model's plain samples and DG's (seed 0), side by side."""
    import numpy as np

    from i2i_cli.points.plots import scatter_figure
    from i2i_cli.points.synthetic_data import seeded_rng, synthetic_array, synthetic_task

    seed0 = work / "under-trained" / "seed0"
    plain = np.load(seed0 / "w0" / "points.npy")
    guided = np.load(seed0 / f"w{w1:g}" / "points.npy")
    data = synthetic_array(synthetic_task("concentric_rings"), POINTS, seeded_rng(1))
    latent = np.load(seed0 / "w0" / "latent.npy")
    panels = [
        ("data: concentric rings", data),
        ("under-trained model, w1 = 0", plain),
        (f"with DG, w1 = {w1:g}", guided),
    ]
    scatter_figure(panels, path, colour_by=latent, own_colours=(0,))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="Every run goes here.")
    parser.add_argument("--seeds", default="0,1,2", help="Comma list of seeds.")
    parser.add_argument("--weights", default="0,1,2,4,8", help="Comma list of w1 values.")
    parser.add_argument("--few", type=int, default=500, help="Fakes of the few-fakes case.")
    parser.add_argument("--jobs", type=int, default=2, help="Commands at once (1 thread each).")
    parser.add_argument("--picture", type=Path, default=None, help="Write the docs' figure.")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    work = args.work.resolve()
    cwd = work / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    fakes = {tuple(fake_run(work, c, s)) for c in CASES for s in seeds}
    run_all([list(f) for f in sorted(fakes)], args.jobs, cwd)
    run_all([train_run(work, c, s, args.few) for c in CASES for s in seeds], args.jobs, cwd)
    run_all(
        [sample_run(work, c, s, w) for c in CASES for s in seeds for w in weights],
        args.jobs,
        cwd,
    )
    lines = [
        f"{len(seeds)} seeds ({args.seeds}); {POINTS} points each; discriminators trained on "
        f"{FAKES} plain samples (few fakes: {args.few}); mean ± sd over seeds.",
        "",
        *score_table(work, seeds, weights, args.few),
        "",
        "Discriminator accuracy per VP-time bin (last logged interval, mean over seeds):",
        "",
        *accuracy_table(work, seeds),
    ]
    text = "\n".join(lines) + "\n"
    (work / "table.md").write_text(text)
    sys.stdout.write(text)
    if args.picture is not None:
        picture(work, args.picture, max(weights) if 4.0 not in weights else 4.0)


if __name__ == "__main__":
    main()
