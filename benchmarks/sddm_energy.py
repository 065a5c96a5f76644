"""Whether SDDM's energy weight changes anything: outputs and min-norm combinations by weight.

    OMP_NUM_THREADS=1 python benchmarks/sddm_energy.py
    python benchmarks/sddm_energy.py --models benchmarks/minimodels --count 8 --out runs/sddm_energy

SDDM (sddm.md §3.1) replaces the tangent part ``u = dg_m`` of the score, above ``range_t``, by
the min-norm point of the convex hull of ``u`` and each energy's tangent direction rescaled to
``v = weight beta_i/sqrt(alpha_i) ||u|| v_hat``, per (item, channel). This script runs
``sample_sddm`` on the mini-benchmark's target model (``benchmarks/minimodels``: the adm-unet of
squares and the seeded VGG relu1_1 stand-in, the settings of ``minimethods.method_settings``:
area 4, range_t = 0.4 x steps) with the energy weight 0 (no energy: d = u), 0.1, 1, 25 (SDDM's
hard-coded value), 1000 and 1e5, and a control with no energy and d = 0 (the score's tangent
part dropped), on four cases: the 8 first held-out discs at 100 steps, the same at 25 steps,
scikit-image's bundled photos (``skimage.data``: astronaut, chelsea, coffee, rocket at 16 px),
far from the squares' block statistics, at 100 steps, and the discs at 100 steps with one
combination per block (``detail_merge``). Per row, against weight 0 with the same noise:

- mean |difference| of the outputs (0-255), the share and the largest difference of the 8-bit
  values an output PNG holds, and the outputs' mean energy E(x; y0) over weight 0's;
- the target rate (squares, ``minimeasure``; discs only);
- over every min-norm problem (item, channel, [block,] conditioned step): the share the energy
  changes (``||d - u|| > 1e-4 ||u||``), the mean ``||d - u|| / ||u||``, the mean ``||d|| / ||u||``,
  the median ``k = ||v|| / ||u||`` and the share with ``cos(u, v) < 1/k`` (the condition under
  which two-vector min-norm moves away from ``u`` at all);
- the tangent part's share of each conditioned step's mean move, ``||u|| / ||mean - x||``.

The terms are read by wrapping ``combine_min_norm`` and ``manifold_mean`` in
``i2i_sddm.score_decomposition`` for the run (the step callback gives only x and x0). One CPU
thread: about 1.5 min. Run from the repository root; ``--out`` also writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_common import patched  # noqa: E402
from minidomains import SIZE, draw_content, render  # noqa: E402
from minimeasure import measure, target_rate  # noqa: E402
from minimethods import FILES, UNET, UNET_PRESET  # noqa: E402

from i2i_cli.diffusion.denoiser import DiscreteDenoiser  # noqa: E402
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy  # noqa: E402
from i2i_cli.diffusion.noise import PerItemNoise  # noqa: E402
from i2i_cli.networks.backbones import load_backbone  # noqa: E402
from i2i_cli.run.model_choice import schedule_for  # noqa: E402

WEIGHTS = (0.0, 0.1, 1.0, 25.0, 1000.0, 1e5, None)
"""Energy weights; 25 is SDDM's hard-coded scale (``condition_mean``), 0 means no energy, None
the control run with no energy and d = 0 (the score's tangent part dropped)."""
AREA = 4
"""Blocks per side, as the mini-benchmark runs SDDM (``minimethods.method_settings``)."""
RANGE_SHARE = 0.4
"""range_t as a share of the respaced steps (the mini-benchmark's)."""
CHANGED = 1e-4
"""A combination counts as changed by the energy when ``||d - u|| > CHANGED ||u||``."""
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
"""scikit-image's bundled colour photos used as inputs far from the target statistics."""


@dataclass(frozen=True)
class Case:
    """One input set, step count and combination layout."""

    name: str
    inputs: str
    """``discs`` (the held-out sources) or ``photos`` (scikit-image)."""
    steps: int
    detail_merge: bool = False
    """One combination per block (SDDM's ``--detail_merge``) instead of per (item, channel)."""


CASES = (
    Case("discs, 100 steps", "discs", 100),
    Case("discs, 25 steps", "discs", 25),
    Case("photos, 100 steps", "photos", 100),
    Case("discs, 100 steps, detail merge", "discs", 100, detail_merge=True),
)


@dataclass
class Probe:
    """What the wrapped sampler functions saw during one run."""

    changed: list[torch.Tensor] = field(default_factory=list)
    """Per combination call: ``||d - u|| / ||u||`` per problem ((item, channel) or block)."""
    shrink: list[torch.Tensor] = field(default_factory=list)
    """Per combination call: ``||d|| / ||u||``."""
    ratio: list[torch.Tensor] = field(default_factory=list)
    """Per combination call: ``k = ||v|| / ||u||`` (first energy)."""
    cosine: list[torch.Tensor] = field(default_factory=list)
    """Per combination call: ``cos(u, v)``."""
    tangent_share: list[torch.Tensor] = field(default_factory=list)
    """Per conditioned mean: ``||u|| / ||mean - x||`` per (item, channel)."""


def channel_norm(v: torch.Tensor) -> torch.Tensor:
    """The norm over H, W of each (item, channel) of ``v``."""
    return v.flatten(2).norm(dim=-1)


def problems(v: torch.Tensor, area: int, per_block: bool) -> torch.Tensor:
    """``v`` as the vectors the min-norm problems combine: per (item, channel) or per block."""
    if not per_block:
        return v.flatten(2)
    from i2i_sddm.blocks import blockify

    return blockify(v, area).flatten(-2)


@contextmanager
def probing(sampler: Any, probe: Probe) -> Iterator[None]:
    """Record the min-norm terms of every conditioned step of ``sampler`` (its module)."""
    combine, manifold_mean = sampler.combine_min_norm, sampler.manifold_mean

    def recorded_combine(
        score_tangent: torch.Tensor, directions: Sequence[torch.Tensor], area: int, **options
    ) -> torch.Tensor:
        combined = combine(score_tangent, directions, area, **options)

        def of(v: torch.Tensor) -> torch.Tensor:
            return problems(v, area, options["per_block"])

        u = of(score_tangent).norm(dim=-1)
        probe.changed.append(of(combined - score_tangent).norm(dim=-1) / u)
        probe.shrink.append(of(combined).norm(dim=-1) / u)
        if directions:
            v = of(directions[0])
            inner = (of(score_tangent) * v).sum(-1)
            probe.ratio.append(v.norm(dim=-1) / u)
            probe.cosine.append(inner / (u * v.norm(dim=-1)))
        return combined

    def recorded_mean(tables, constants, x, mean, t, *, reference, directions, guidance):
        level = sampler.diffused_moments(tables, reference, t)
        score = mean - sampler.at(constants.recip_sqrt_alpha, t, x) * x
        tangent, _ = sampler.split_on_manifold(x, score, level.mean, guidance.area)
        probe.tangent_share.append(channel_norm(tangent) / channel_norm(mean - x))
        return manifold_mean(
            tables,
            constants,
            x,
            mean,
            t,
            reference=reference,
            directions=directions,
            guidance=guidance,
        )

    with ExitStack() as stack:
        stack.enter_context(patched(sampler, "combine_min_norm", recorded_combine))
        stack.enter_context(patched(sampler, "manifold_mean", recorded_mean))
        yield


def held_out_discs(count: int) -> torch.Tensor:
    """The mini-benchmark's first ``count`` held-out sources (``write_domains``' test/A, seed 0)."""
    rng = np.random.default_rng([0, 1])
    images = [render("disc", draw_content(rng)) for _ in range(count)]
    return to_tensor(np.stack(images))


def photos(size: int = SIZE) -> torch.Tensor:
    """scikit-image's bundled colour photos, centre-cropped square and resized to ``size``."""
    from PIL import Image
    from skimage import data

    images = []
    for name in PHOTOS:
        pixels = getattr(data, name)()
        side = min(pixels.shape[:2])
        top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
        crop = Image.fromarray(pixels[top : top + side, left : left + side, :3])
        images.append(np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC)))
    return to_tensor(np.stack(images))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) as [-1, 1] float (N, 3, H, W)."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float (N, 3, H, W) as the uint8 (N, H, W, 3) an output PNG holds."""
    scaled = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).numpy()


@dataclass(frozen=True)
class Parts:
    """The target model, the energy's encoder and the sampler module."""

    denoiser: DiscreteDenoiser
    spec: Any
    encoder: torch.nn.Module
    sampler: Any
    energy: Callable[..., Any]


def load_parts(models: Path) -> Parts:
    """The mini-benchmark's square model and VGG stand-in from ``models``."""
    import i2i_sddm.score_decomposition as sampler
    from i2i_sddm.energy import vgg_adain_energy
    from i2i_sddm.vgg import AdaINEncoder

    backbone = load_backbone(
        "adm-unet", preset=UNET_PRESET, overrides=UNET, checkpoint=models / FILES["diffusion_b"]
    )
    encoder = AdaINEncoder(level=1, layers="used")
    encoder.load_state_dict(torch.load(models / FILES["vgg"], weights_only=True), strict=True)
    encoder = encoder.eval().requires_grad_(False)
    return Parts(
        DiscreteDenoiser(backbone.module, backbone.spec),
        backbone.spec,
        encoder,
        sampler,
        vgg_adain_energy,
    )


def no_tangent_score(score_tangent: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
    """The control's combination: d = 0, the score's tangent part dropped, no energy."""
    return torch.zeros_like(score_tangent)


def translate(
    parts: Parts, y0: torch.Tensor, case: Case, weight: float | None
) -> tuple[torch.Tensor, Probe]:
    """``sample_sddm`` of ``y0`` at the mini-benchmark's settings, and what the probe saw.

    ``weight`` None is the control: every combination replaced by d = 0.
    """
    schedule = schedule_for(parts.spec, respacing=str(case.steps))
    guidance = parts.sampler.ManifoldGuidance(
        area=AREA, range_t=round(case.steps * RANGE_SHARE), detail_merge=case.detail_merge
    )
    energies = [WeightedEnergy("vgg-adain", weight or 0.0, parts.energy(parts.encoder, AREA))]
    noise = PerItemNoise(0, [f"{k:05d}.png" for k in range(y0.shape[0])])
    probe = Probe()
    with ExitStack() as stack:
        if weight is None:
            stack.enter_context(patched(parts.sampler, "combine_min_norm", no_tangent_score))
        stack.enter_context(probing(parts.sampler, probe))
        x = parts.sampler.sample_sddm(
            parts.denoiser, y0, schedule, guidance=guidance, energies=energies, noise=noise
        )
    return x, probe


def mean_of(values: list[torch.Tensor], reduce: str = "mean") -> float | None:
    """Mean (or median) of recorded tensors, None where nothing was recorded."""
    if not values:
        return None
    flat = torch.cat([v.flatten() for v in values])
    return float(flat.median() if reduce == "median" else flat.mean())


def share(values: list[torch.Tensor], above: float) -> float | None:
    """Share of recorded values above ``above``."""
    if not values:
        return None
    return float(torch.cat([v.flatten() for v in values]).gt(above).float().mean())


def output_energy(parts: Parts, x: torch.Tensor, y0: torch.Tensor) -> float:
    """The mean VGG block-AdaIN energy E(x; y0) of the outputs (what the energy lowers)."""
    with torch.no_grad():
        return float(parts.energy(parts.encoder, AREA)(x, GuidanceState(source=y0)).mean())


def row(case: Case, weight: float | None, outputs: dict[str, torch.Tensor], probe: Probe) -> dict:
    """One table row: output change against weight 0 and the combination statistics.

    ``outputs``: ``x`` (this weight's), ``base`` (weight 0's), and their ``energy`` ratio.
    """
    x, base = outputs["x"], outputs["base"]
    pixels, base_pixels = to_pixels(x), to_pixels(base)
    cosines = torch.cat([c.flatten() for c in probe.cosine]) if probe.cosine else None
    ratios = torch.cat([r.flatten() for r in probe.ratio]) if probe.ratio else None
    return {
        "case": case.name,
        "weight": "d = 0 (control)" if weight is None else f"{weight:g}",
        "mean_abs_diff": float((x - base).abs().mean() * 127.5),
        "pixels_changed": float((pixels != base_pixels).mean()),
        "max_pixel_diff": int(np.abs(pixels.astype(int) - base_pixels.astype(int)).max()),
        "energy_ratio": float(outputs["energy"]),
        "target_rate": (
            target_rate([measure(p) for p in pixels]) if case.inputs == "discs" else None
        ),
        "combinations_changed": share(probe.changed, CHANGED),
        "relative_change": mean_of(probe.changed),
        "tangent_kept": mean_of(probe.shrink),
        "median_k": mean_of(probe.ratio, "median"),
        "below_threshold": (
            None if cosines is None else float((cosines < 1 / ratios).float().mean())
        ),
        "median_cos": mean_of(probe.cosine, "median"),
        "limit_change": None if cosines is None else float((-cosines).clamp(min=0).mean()),
        "tangent_share": mean_of(probe.tangent_share, "median"),
    }


COLUMNS = (
    ("case", "case", "{}"),
    ("weight", "weight", "{}"),
    ("mean_abs_diff", "mean abs diff (0-255)", "{:.3f}"),
    ("pixels_changed", "8-bit values changed", "{:.1%}"),
    ("max_pixel_diff", "max 8-bit diff", "{}"),
    ("energy_ratio", "E(output) / E at weight 0", "{:.3f}"),
    ("target_rate", "target rate", "{:.2f}"),
    ("combinations_changed", "combinations changed", "{:.1%}"),
    ("relative_change", "mean ‖d-u‖/‖u‖", "{:.3f}"),
    ("tangent_kept", "mean ‖d‖/‖u‖", "{:.3f}"),
    ("median_k", "median k = ‖v‖/‖u‖", "{:.3g}"),
    ("below_threshold", "cos < 1/k", "{:.1%}"),
    ("limit_change", "mean max(0, -cos)", "{:.3f}"),
)


def markdown(rows: Sequence[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        cells = ["-" if r[key] is None else form.format(r[key]) for key, _, form in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=HERE / "minimodels")
    parser.add_argument("--count", type=int, default=8, help="held-out discs per case")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    parts = load_parts(args.models)
    inputs = {"discs": held_out_discs(args.count), "photos": photos()}
    rows = []
    for case in CASES:
        y0 = inputs[case.inputs]
        base, _ = translate(parts, y0, case, 0.0)
        base_energy = output_energy(parts, base, y0)
        for weight in WEIGHTS:
            x, probe = translate(parts, y0, case, weight)
            ratio = output_energy(parts, x, y0) / base_energy
            rows.append(row(case, weight, {"x": x, "base": base, "energy": ratio}, probe))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    shares = [r["tangent_share"] for r in rows if r["tangent_share"] is not None]
    table = markdown(rows)
    note = (
        "\nMedian tangent score's share of a conditioned step's mean move, ||u|| / ||mean - x|| "
        f"per (item, channel, step): {min(shares):.3f} to {max(shares):.3f} over the rows."
    )
    print(table + note)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        args.out.with_suffix(".md").write_text(table + note + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
