"""The GPU suite's DDIB section: ImageNet 256 translation against ``imagenet_translation.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from gpu_measure import Case, run_case, seeded
from gpu_record import Suite
from gpu_references import reference_imports
from gpu_unet import accepted, adm_unet


def ddib_section(suite: Suite, timed_steps: int, default_steps: int, reference_steps: int) -> None:
    """ImageNet 256: i2i's default DPM-Solver++(2M) and DDIM against the reference's DDIM.

    One DDIB translation is an unguided encode pass and a classifier-guided decode pass (scale
    1, clip on, the reference's ``imagenet_translation.py`` defaults); each side is timed over
    ``timed_steps`` per pass and scaled to its full count (per-step cost does not depend on
    the count). The two DDIMs must agree on the timed grid.
    """
    from i2i_adm.energies import classifier_energy
    from i2i_cli.diffusion.denoiser import DiscreteDenoiser
    from i2i_cli.diffusion.guidance import WeightedEnergy, bind
    from i2i_cli.diffusion.noise import GeneratorNoise
    from i2i_cli.diffusion.ode import solver_schedule
    from i2i_cli.diffusion.schedule import DiscreteSchedule
    from i2i_cli.networks.backbones import backbone_settings
    from i2i_ddib.bridges import ddib_translate

    device, plan = suite.device, suite.plan
    size, batch = plan.ddib_size, plan.ddib_batch
    unet, flags, spec = adm_unet("imagenet256_cond", {"image_size": size, **plan.ddib_overrides})
    overrides = {"image_size": size, **plan.classifier_overrides}
    descriptor, classifier_settings = backbone_settings(
        "adm-classifier", "classifier256", overrides
    )
    classifier = descriptor.build(classifier_settings).eval()
    states = [seeded(module, seed) for seed, module in enumerate((unet, classifier))]
    for module, state in zip((unet, classifier), states, strict=True):
        module.load_state_dict(state, strict=True)
    unet, classifier = (m.to(device).requires_grad_(False) for m in (unet, classifier))
    classes = int(classifier_settings.out_channels)  # type: ignore[attr-defined]
    generator = torch.Generator().manual_seed(1234)
    x = (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(device)
    y_source = torch.tensor([260 + i % 4 for i in range(batch)], device=device) % classes
    y_target = torch.tensor([282 + i % 2 for i in range(batch)], device=device) % classes
    energies = bind([WeightedEnergy("classifier", 1.0, classifier_energy(classifier, classes))],
                    labels=y_target)  # fmt: skip
    process = DiscreteSchedule.named("linear", 1000)

    def ours(solver: str, schedule: DiscreteSchedule) -> Callable[[], torch.Tensor]:
        source = DiscreteDenoiser(unet, spec).with_labels(y_source)
        target = DiscreteDenoiser(unet, spec).with_labels(y_target)

        def run() -> torch.Tensor:
            return ddib_translate(
                source, target, x, schedule, energies=energies, solver=solver,  # type: ignore[arg-type]
                noise=GeneratorNoise(0, device), clip_denoised=True,
            ).result  # fmt: skip

        return run

    reference = check = None
    root = suite.reference("ddib")
    if root is not None:
        reference, check = ddib_reference(root, flags, classifier_settings, states, x, y_source,
                                          y_target, timed_steps, device)  # fmt: skip
    ddim = DiscreteSchedule.named("linear", 1000, f"ddim{timed_steps}")
    run_case(
        suite,
        Case(f"ddib imagenet {size}px", batch, ours("ddim", ddim), reference,
             "DDIB imagenet_translation.py (DDIM)", "fp16" if device.type == "cuda" else "fp32",
             check, scale=reference_steps / timed_steps, nfe=2 * reference_steps,
             reference_nfe=2 * reference_steps, options="ddim",
             note=f"{timed_steps} steps/pass timed, scaled to {reference_steps}"),
    )  # fmt: skip
    fast = solver_schedule(process, "dpmpp2m", timed_steps)
    reference_rows = [
        r for r in suite.rows if r.section.startswith("ddib") and r.note == "reference"
    ]
    rows = run_case(
        suite,
        Case(f"ddib imagenet {size}px", batch, ours("dpmpp2m", fast), None, "", flops=True,
             scale=default_steps / timed_steps, nfe=2 * default_steps, options="dpmpp2m (default)",
             note=f"{timed_steps} steps/pass timed, scaled to {default_steps}; NFE ratio "
             f"{reference_steps / default_steps:g}x"),
    )  # fmt: skip
    if reference_rows:
        for row in rows:
            if row.note != "reference" and row.images_per_s is not None:
                row.reference_images_per_s = reference_rows[-1].images_per_s
                row.ratio = row.images_per_s / reference_rows[-1].images_per_s  # type: ignore[operator]
        suite.write()


def ddib_reference(
    root: Path,
    flags: dict[str, Any],
    classifier_settings: Any,
    states: list[dict[str, torch.Tensor]],
    x: torch.Tensor,
    y_source: torch.Tensor,
    y_target: torch.Tensor,
    steps: int,
    device: torch.device,
) -> tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]:
    """(timed run, fp32 check run) of ``imagenet_translation.py``'s loop body at ``ddim{steps}``.

    The timed run is the script's: the UNet converted to fp16 (its ``use_fp16`` flag) on CUDA,
    the classifier fp32 (``classifier_use_fp16`` False); the check run is all fp32, first.
    """
    import torch.nn.functional as F

    with reference_imports(root):
        from guided_diffusion.script_util import (  # type: ignore[import-not-found]
            create_classifier,
            create_gaussian_diffusion,
            create_model,
        )

        model = create_model(**accepted(create_model, flags)).eval()
        s = classifier_settings
        classifier = create_classifier(
            s.image_size, False, s.width, s.depth, s.attention_resolutions,
            s.use_scale_shift_norm, s.resblock_updown, s.pool,
        ).eval()  # fmt: skip
        diffusion = create_gaussian_diffusion(
            steps=1000, learn_sigma=True, noise_schedule="linear",
            timestep_respacing=f"ddim{steps}",
        )  # fmt: skip
    model.load_state_dict(states[0], strict=True)
    classifier.load_state_dict(states[1], strict=True)
    model, classifier = model.to(device), classifier.to(device)

    def cond_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            log_probs = F.log_softmax(classifier(x_in, t), dim=-1)
            selected = log_probs[range(len(log_probs)), y.view(-1)]  # type: ignore[union-attr]
            return torch.autograd.grad(selected.sum(), x_in)[0] * 1.0

    def model_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return model(x, t, y)

    def run() -> torch.Tensor:
        with torch.no_grad():
            latent = diffusion.ddim_reverse_sample_loop(
                model_fn, x, clip_denoised=False, model_kwargs={"y": y_source}, device=device
            )
            return diffusion.ddim_sample_loop(
                model_fn, tuple(x.shape), noise=latent, clip_denoised=True,
                model_kwargs={"y": y_target}, cond_fn=cond_fn, device=device, eta=0.0,
            )  # fmt: skip

    check = run()

    def timed_run() -> torch.Tensor:
        return run()

    if device.type == "cuda":
        model.convert_to_fp16()
        model.dtype = torch.float16
    return timed_run, lambda: check
