"""One epoch of DG's discriminator training vs ``train.py`` (dg_train.pt, dg.md §6 and §10).

The recorded epoch is replayed step by step: the golden minibatches (``batch_order`` into
cat(real, fake)), uniform draws (``noise.rand``) and normals (``noise.randn_like``) go through
``discriminator_step`` with the golden frozen extractor (the ``adm-classifier`` backbone, via
the core) and the golden initial head; Adam updates the head. Times, perturbed inputs,
predictions, losses and the saved head must match at the file's tolerance.

Adam moves each weight by about ``lr g / (|g| + eps)``: where a gradient is at the float32
rounding level of a structurally zero gradient (conv biases in front of a GroupNorm, attention
key biases: |g| ~ 1e-9, below Adam's eps = 1e-8) the direction of that move is rounding noise in
both implementations, so such weights (|g| <= 10 eps at some step) are only held to Adam's bound
of one ``lr`` per step either way; every other weight, and so every gradient that carries
information, must land at the file's tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.networks.backbones import load_backbone, load_state_dict_strictly
from i2i_dg.discriminator_loss import (
    antiderivative,
    diffusion_time,
    discriminator_step,
    make_optimizer,
    normalizing_constant,
)
from i2i_dg.head import DiscriminatorHead
from i2i_dg.image_sets import to_model_space
from tests.parity.test_dg_discriminator import extractor_overrides, head_config


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    """dg_train.pt (skipped when absent, unless I2I_REQUIRE_GOLDEN=1)."""
    path = golden_dir / "dg_train.pt"
    if not path.is_file():
        pytest.skip(f"golden file {path} is missing")
    return torch.load(path, weights_only=True)


def close(actual: torch.Tensor, expected: torch.Tensor, tol: dict[str, Any]) -> None:
    """|actual - expected| <= atol + rtol |expected| (same dtype and shape)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    bound = tol["atol"] + tol["rtol"] * expected.abs()
    assert bool(((actual - expected).abs() <= bound).all()), (actual - expected).abs().max()


def test_one_recorded_epoch(golden: dict[str, Any]) -> None:
    """Every step's t, x_t, prediction and loss, and the trained head (discriminator_1.pt)."""
    config, state, tol = golden["config"], golden["state_dict"], golden["tolerance"]
    train, inputs, noise, outputs = (
        config["train"],
        golden["inputs"],
        golden["noise"],
        golden["outputs"],
    )
    extractor = load_backbone(
        "adm-classifier", overrides=extractor_overrides(config["classifier"])
    ).module
    load_state_dict_strictly(extractor, state["classifier"], "golden classifier")
    head = DiscriminatorHead(head_config(config["discriminator"]))
    load_state_dict_strictly(head, state["discriminator_init"], "golden initial head")
    head.train()
    optimizer = make_optimizer(head, train["lr"], train["weight_decay"])
    assert optimizer.defaults["betas"] == tuple(train["adam_betas"])
    assert optimizer.defaults["eps"] == train["adam_eps"]
    pixels = torch.cat([inputs["real_uint8_hwc"], inputs["fake_uint8_hwc"]])
    targets = torch.cat([torch.ones(train["num_data"]), torch.zeros(train["num_data"])])
    gradients: dict[str, list[torch.Tensor]] = {k: [] for k, _ in head.named_parameters()}
    for step, order in enumerate(inputs["batch_order"]):
        optimizer.zero_grad(set_to_none=True)
        out = discriminator_step(
            extractor,
            head,
            to_model_space(pixels[order]),
            targets[order],
            noise["rand"][step],
            noise["randn_like"][step],
            t_min=train["t_min"],
        )
        close(out.t, outputs["t"][step], tol)
        close(targets[order], outputs["labels"][step], tol)
        close(out.perturbed, outputs["perturbed"][step], tol)
        close(out.prediction, outputs["prediction"][step], tol)
        close(out.loss, outputs["loss"][step], tol)
        out.loss.backward()
        for key, parameter in head.named_parameters():
            gradients[key].append(parameter.grad.detach().clone())
        optimizer.step()
    trained = head.state_dict()
    assert trained.keys() == state["discriminator_trained"].keys()
    adam_bound = 2 * train["lr"] * len(inputs["batch_order"])
    rounding_level, exact = 10 * train["adam_eps"], 0
    for key, expected in state["discriminator_trained"].items():
        noisy = torch.stack(gradients[key]).abs().le(rounding_level).any(dim=0)
        close(trained[key][~noisy], expected[~noisy], tol)
        deviation = (trained[key][noisy] - expected[noisy]).abs()
        assert bool((deviation <= adam_bound + tol["atol"]).all()), key
        exact += int((~noisy).sum())
    assert exact > 0.95 * sum(v.numel() for v in trained.values())
    moved = sum(int(not torch.equal(trained[k], v)) for k, v in state["discriminator_init"].items())
    assert moved > 0.9 * len(trained)


def test_uniform_times_and_importance_sampling_range() -> None:
    """Non-IS times are u (1 - t_min) + t_min; IS times stay in [t_min, 1] and are increasing."""
    u = torch.linspace(0, 1, 11)
    assert torch.allclose(diffusion_time(u, 1e-5, importance_sampling=False), u * (1 - 1e-5) + 1e-5)
    t = diffusion_time(u, 1e-5)
    assert t.dtype == torch.float32 and bool((t[1:] > t[:-1]).all())
    assert abs(float(t[0]) - 1e-5) < 1e-6 and abs(float(t[-1]) - 1.0) < 1e-5


def test_importance_sampled_times_match_classifier_lib(golden_dir: Path) -> None:
    """get_diffusion_time(6) from its recorded rand draw, Z and A(1) (dg_discriminator.pt)."""
    path = golden_dir / "dg_discriminator.pt"
    if not path.is_file():
        pytest.skip(f"golden file {path} is missing")
    golden = torch.load(path, weights_only=True)
    vpsde, tol = golden["outputs"]["vpsde"], golden["tolerance"]
    close(diffusion_time(vpsde["importance_sampling_u"]), vpsde["importance_sampling_t"], tol)
    close(normalizing_constant(1e-5), vpsde["importance_sampling_Z"], tol)
    close(normalizing_constant(1e-5), vpsde["normalizing_constant_1e-5"], tol)
    close(antiderivative(torch.tensor(1.0)), vpsde["antiderivative_at_1"], tol)
