"""DG (EDM-G++) sampling images/s: i2i's ``sample_dg`` against DG's ``edm_sampler``, same weights.

    python benchmarks/bench_dg.py --reference /tmp/dg_ref --edm /tmp/edm_ref --device cpu \\
        --batch 2 --steps 18

``--reference`` is a local copy of alsdudrla10/DG and ``--edm`` one of NVlabs/edm (DG ships no
network code: its networks live in the pickles, whose source is EDM's ``training/networks.py``);
neither is ever part of this repository. Both sides run the CIFAR-10 unconditional
configuration (dg.md §4): the ``edm_cifar10_32x32_uncond_vp`` network (DDPM++ / VP), Heun with
N steps (2N - 1 network calls) plus one discriminator gradient per step, w1 = 2, DG's time window
[0.01, 1], no boosting, S_churn = 0. The discriminator is the ADM 32x32 classifier
(``dg_cifar10_classifier32``) under DG's unconditional head (``cifar10_uncond``). All three
networks carry the same seeded random weights on both sides (i2i's state dicts loaded with
``strict=True`` into the reference's modules) and both start from the same latents, so the
outputs must agree. DG's ``generate.py`` imports tensorflow and torchvision at module level for
its file writers only; where they are missing, empty stand-in modules are registered so that
``edm_sampler`` (which uses neither) can be imported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2i_cli.diffusion.karras import karras_sigmas
from i2i_cli.diffusion.noise import SeedNoise
from i2i_cli.networks.backbones import backbone_settings
from i2i_dg.discriminator import Discriminator
from i2i_dg.edm_gpp import sample_dg
from i2i_dg.energy import discriminator_energy

W1 = 2.0
"""DG's first-order weight of the unconditional CIFAR-10 run (``generate.py`` default)."""
TIME_MIN, TIME_MAX = 0.01, 1.0
"""DG's time window of the discriminator (``--time_min``, ``--time_max`` defaults)."""


def random_state(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random parameters (N(0, 0.02^2), no zero-initialised layer left), buffers kept."""
    generator = torch.Generator().manual_seed(seed)
    parameters = dict(model.named_parameters())
    state = {}
    for key, value in model.state_dict().items():
        if key in parameters:
            state[key] = torch.randn(value.shape, generator=generator) * 0.02
        else:
            state[key] = value.clone()
    return state


def build_ours() -> tuple[nn.Module, nn.Module, nn.Module, dict[str, Any]]:
    """i2i's EDM network, ADM feature extractor and DG head at the CIFAR-10 presets."""
    edm_backbone, edm_settings = backbone_settings("edm", "edm_cifar10_32x32_uncond_vp", {})
    adm_backbone, adm_settings = backbone_settings("adm-classifier", "dg_cifar10_classifier32", {})
    head_backbone, head_settings = backbone_settings("dg-discriminator", "cifar10_uncond", {})
    networks = [b.build(s).eval() for b, s in [
        (edm_backbone, edm_settings), (adm_backbone, adm_settings), (head_backbone, head_settings)
    ]]  # fmt: skip
    net, extractor, head = networks
    precond = {"precond": edm_settings.precond}  # type: ignore[attr-defined]
    return net, extractor, head, {**edm_settings.precond_kwargs(), **precond}  # type: ignore[attr-defined]


def stand_in_writers() -> None:
    """Empty ``tensorflow``/``torchvision.utils`` modules where missing (DG's file writers only)."""
    for name in ("tensorflow", "torchvision"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    if "torchvision.utils" not in sys.modules:
        try:
            __import__("torchvision.utils")
        except ImportError:
            utils = types.ModuleType("torchvision.utils")
            utils.make_grid = utils.save_image = None  # type: ignore[attr-defined]
            sys.modules["torchvision.utils"] = utils
            sys.modules["torchvision"].utils = utils  # type: ignore[attr-defined]


def build_reference(dg: Path, edm: Path, precond_kwargs: dict[str, Any]) -> dict[str, Any]:
    """DG's ``edm_sampler``, ``vpsde`` and discriminator closure, and EDM's preconditioner of
    the preset (``EDMPrecond`` for edm-cifar10-32x32-uncond-vp.pkl, dg.md §2.4)."""
    sys.path[:0] = [str(dg), str(edm)]
    stand_in_writers()
    import classifier_lib  # type: ignore[import-not-found]
    import generate  # type: ignore[import-not-found]
    from training import networks  # type: ignore[import-not-found]

    from i2i_edm.settings import PRECOND_CLASSES

    kwargs = {k: v for k, v in precond_kwargs.items() if k not in ("init_seed", "precond")}
    net = getattr(networks, PRECOND_CLASSES[precond_kwargs["precond"]])(**kwargs).eval()
    evaluate = classifier_lib.get_discriminator(None, None, False, 32, "cpu", enable_grad=True)
    cells = dict(zip(evaluate.__code__.co_freevars, evaluate.__closure__, strict=True))
    return {
        "sampler": generate.edm_sampler,
        "vpsde": classifier_lib.vpsde(),
        "evaluate": evaluate,
        "net": net,
        "classifier": cells["classifier"].cell_contents,
        "discriminator": cells["discriminator"].cell_contents,
    }


def autocast(device: torch.device, dtype: str) -> AbstractContextManager[Any]:
    """bf16: autocast on the device; fp32: nothing.

    Only i2i runs under bf16: EDM's ``Precond.forward`` asserts its output is float32 (it does
    mixed precision itself, through ``use_fp16``, on CUDA only), so the reference stays fp32.
    """
    if dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def our_run(net: nn.Module, disc: Discriminator, latents: torch.Tensor, steps: int) -> torch.Tensor:
    """i2i: ``sample_dg`` with the ``discriminator`` energy on the EDM network (i2i sample dg)."""
    sigma_min = max(0.002, float(net.sigma_min))
    sigma_max = min(80.0, float(net.sigma_max))
    round_sigma = net.round_sigma
    sigmas = karras_sigmas(steps, sigma_min, sigma_max, 7.0, round_sigma=round_sigma)
    sigmas = sigmas.to(latents.device)
    energy = discriminator_energy(disc, time_min=TIME_MIN, time_max=TIME_MAX)
    keys = [str(k) for k in range(latents.shape[0])]
    return sample_dg(
        lambda x, sigma: net(x, sigma, class_labels=None),
        latents.to(torch.float64) * sigmas[0],
        sigmas,
        discriminator=energy,
        w1=W1,
        noise=SeedNoise(0, keys, latents.device),
        round_sigma=round_sigma,
    )


def reference_run(parts: dict[str, Any], latents: torch.Tensor, steps: int) -> torch.Tensor:
    """DG's ``generate.py:edm_sampler`` as its ``main`` calls it (boosting 0, w2 = 0)."""
    return parts["sampler"](
        0, TIME_MIN, TIME_MAX, parts["vpsde"], W1, 0.0, parts["evaluate"], parts["net"],
        latents, None, randn_like=torch.randn_like, num_steps=steps,
    )  # fmt: skip


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(
    runs: dict[str, Callable[[], torch.Tensor]], repeats: int, device: torch.device, dtype: str
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Seconds of each run, alternating implementations ``repeats`` times; the last outputs."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            synchronize(device)
            start = time.perf_counter()
            with autocast(device, dtype if name == "i2i" else "fp32"):
                outputs[name] = run()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="local copy of alsdudrla10/DG")
    parser.add_argument("--edm", type=Path, help="local copy of NVlabs/edm (its networks)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=18, help="Heun steps N (2N - 1 NFE)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--dtype", choices=["fp32", "bf16"], default="fp32", help="i2i's autocast (reference: fp32)"
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    net, extractor, head, precond_kwargs = build_ours()
    states = [random_state(m, seed) for seed, m in enumerate((net, extractor, head))]
    for module, state in zip((net, extractor, head), states, strict=True):
        module.load_state_dict(state, strict=True)
    disc = Discriminator(extractor, head).to(device).eval().requires_grad_(False)  # type: ignore[arg-type]
    net = net.to(device).requires_grad_(False)
    generator = torch.Generator().manual_seed(1234)
    latents = torch.randn(args.batch, 3, 32, 32, generator=generator).to(device)

    runs: dict[str, Callable[[], torch.Tensor]] = {
        "i2i": lambda: our_run(net, disc, latents, args.steps)
    }
    if args.reference is not None and args.edm is not None:
        parts = build_reference(args.reference, args.edm, precond_kwargs)
        for key, state in zip(("net", "classifier", "discriminator"), states, strict=True):
            parts[key].load_state_dict(state, strict=True)
            parts[key].to(device).eval()
        # EDM's pickled ``ema`` has requires_grad off (training/training_loop.py); DG's freshly
        # built classifier and head keep theirs on, as in DG's script.
        parts["net"].requires_grad_(False)
        runs["DG reference"] = lambda: reference_run(parts, latents, args.steps)

    seconds, outputs = time_runs(runs, args.repeats, device, args.dtype)
    nfe = 2 * args.steps - 1
    line = (
        f"DG cifar10-uncond config, {device.type}, 32px, {args.steps} steps ({nfe} NFE + "
        f"{args.steps} discriminator gradients), batch {args.batch}, i2i {args.dtype}"
    )
    if "DG reference" in outputs:
        difference = (outputs["i2i"] - outputs["DG reference"]).abs().max().item()
        scale = outputs["DG reference"].abs().max().item()
        line += f"; max |i2i - reference| = {difference:.2e} (max |x| = {scale:.2f})"
    print(line)
    print(f"{'implementation':<14} {'s/image':>10} {'images/s':>10} {'best images/s':>14}")
    rates = {}
    for name in runs:
        per_image = statistics.median(seconds[name]) / args.batch
        rates[name] = 1 / per_image
        best = args.batch / min(seconds[name])
        print(f"{name:<14} {per_image:>10.3f} {rates[name]:>10.3f} {best:>14.3f}")
    if "DG reference" in rates:
        print(f"i2i / reference: {rates['i2i'] / rates['DG reference']:.2f}x images/s")


if __name__ == "__main__":
    main()
