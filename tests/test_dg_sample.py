"""``i2i sample dg`` end to end on the tiny EDM fixture backbone and a tiny discriminator.

With w1 = 0 it is ``i2i sample edm`` seed for seed (same SeedNoise streams, same Heun
arithmetic); with the discriminator on, the images move; the task presets resolve and a
conditional discriminator on an unconditional network is one usage line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_i2i
from tests.fixture_dists import use_dists
from tests.test_dg_energy import EXTRACTOR, HEAD, tiny_files
from tests.tiny_models import TINY_ADM_8PX, random_weights, toml_table


@pytest.fixture
def tiny_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Tiny EDM weights (uncond and 4 classes), discriminator files and a --config for them."""
    use_dists(monkeypatch, "tinyedm")
    from i2i_tinyedm.net import TinyVP

    files = {}
    for label_dim in (0, 4):
        files[f"net{label_dim}"] = tmp_path / f"tiny{label_dim}.pt"
        torch.save(TinyVP(8, 3, label_dim).state_dict(), files[f"net{label_dim}"])
    extractor, head = tiny_files(tmp_path)
    disc = {"preset": "", "checkpoint": str(head), "extractor_preset": ""}
    disc["extractor_checkpoint"] = str(extractor)
    config = tmp_path / "dg.toml"
    config.write_text(
        toml_table("discriminator", disc)
        + toml_table("discriminator.model", HEAD)
        + toml_table("discriminator.extractor_model", EXTRACTOR)
    )
    files["config"] = config
    return files


def run_sample(
    method: str, weights: Path, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``i2i sample METHOD`` on the tiny backbone, 5 steps, into ``out``: the finished run."""
    preset = "tiny-cond" if weights.stem.endswith("4") else "tiny"
    return run_i2i(
        [
            "sample",
            method,
            *("--device", "cpu", "--backbone", "tinyedm", "--preset", preset),
            *("--checkpoint", str(weights), "--steps", "5", "--output", str(out)),
            *args,
        ],
        dists=["tinyedm"],
    )


def sample(method: str, weights: Path, out: Path, *args: str) -> None:
    """``run_sample``, which must succeed."""
    result = run_sample(method, weights, out, *args)
    assert result.returncode == 0, result.stderr + result.stdout


def images(out: Path) -> np.ndarray:
    """The written images 000000.png .. 000002.png, stacked."""
    return np.stack([np.asarray(Image.open(out / f"{k:06d}.png")) for k in range(3)])


@pytest.mark.parametrize("label_dim", [0, 4])
def test_without_guidance_dg_is_edm_seed_for_seed(
    tiny_run: dict[str, Path], tmp_path: Path, label_dim: int
) -> None:
    """w1 = 0: the images of ``i2i sample edm`` (seeds 0-2); w1 = 2 changes them."""
    weights = tiny_run[f"net{label_dim}"]
    sample("edm", weights, tmp_path / "edm", "--seeds", "0-2")
    config = ("--config", str(tiny_run["config"]), "--num-samples", "3")
    sample("dg", weights, tmp_path / "plain", *config, "--w1", "0")
    sample("dg", weights, tmp_path / "guided", *config, "--w1", "2", "--boosting")
    assert np.array_equal(images(tmp_path / "plain"), images(tmp_path / "edm"))
    assert not np.array_equal(images(tmp_path / "guided"), images(tmp_path / "edm"))


def test_conditional_discriminator_needs_a_conditional_network(
    tiny_run: dict[str, Path], tmp_path: Path
) -> None:
    """discriminator.cond on an unconditional network: one usage line, no traceback."""
    config = ("--config", str(tiny_run["config"]), "--set", "discriminator.cond=true")
    result = run_sample("dg", tiny_run["net0"], tmp_path / "o", *config)
    assert result.returncode != 0
    assert "needs a class-conditional EDM network" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("task", "w1"), [("cifar10-uncond", "2.0"), ("cifar10-cond", "1.0")])
def test_task_presets_are_dgs_readme_commands(task: str, w1: str) -> None:
    """The two README commands resolve (dry run): network, weight, boosting, discriminator."""
    result = run_i2i(["sample", "dg", "--task", task, "--dry-run"])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    cond = task.endswith("-cond")
    assert f"w1 = {w1}" in text
    assert f"boosting = {'true' if cond else 'false'}" in text
    assert f"dg_cifar10_discriminator_{'cond' if cond else 'uncond'}" in text


@pytest.mark.parametrize("w1", ["0", "2"])
def test_seeds_subdirs_and_npz_write_edms_layout(
    tiny_run: dict[str, Path], tmp_path: Path, w1: str
) -> None:
    """``--seeds 3-4 --subdirs --npz``: EDM's files (and, unguided, its bytes), labels in order."""
    weights = tiny_run["net4"]
    options = ("--seeds", "3-4", "--subdirs", "--npz", "--batch-size", "1")
    sample("edm", weights, tmp_path / "edm", *options)
    sample(
        "dg", weights, tmp_path / "dg", "--config", str(tiny_run["config"]), "--w1", w1, *options
    )

    def layout(out: Path) -> list[str]:
        return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())

    assert layout(tmp_path / "dg") == layout(tmp_path / "edm")
    assert layout(tmp_path / "dg") == [
        "000000/000003.png",
        "000000/000004.png",
        "run.toml",
        "samples.npz",
    ]
    with np.load(tmp_path / "dg/samples.npz") as dg, np.load(tmp_path / "edm/samples.npz") as edm:
        assert np.array_equal(dg["label"], edm["label"])
        assert dg["samples"].shape == edm["samples"].shape == (2, 8, 8, 3)
        assert np.array_equal(dg["samples"], edm["samples"]) == (w1 == "0")
        png = np.asarray(Image.open(tmp_path / "dg/000000/000004.png"))
        assert np.array_equal(dg["samples"][1], png)


def test_discrete_backbone_samples_through_the_sigma_adapter(
    tiny_run: dict[str, Path], tmp_path: Path
) -> None:
    """An adm-unet (index time, eps, learned variance) under ``sample edm`` / ``sample dg``.

    Its net is D(x; sigma) = x - sigma eps(x / sqrt(sigma^2 + 1), t(sigma)) of the original
    process; EDM's grid is clamped to that process's [sigma_0, sigma_{T-1}]. w1 = 0 is EDM's
    Heun seed for seed, the discriminator moves the images.
    """
    from i2i_cli.diffusion.denoiser import DiscreteDenoiser
    from i2i_cli.diffusion.sigma_time import IndexToSigma
    from i2i_cli.networks.backbones import load_backbone
    from i2i_cli.run.seed_sampling import SigmaNet

    weights = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_8PX, tmp_path / "adm.pt")
    loaded = load_backbone(
        "adm-unet", preset="afhq_dog_4m", overrides=TINY_ADM_8PX, checkpoint=weights
    )
    net = SigmaNet.of(loaded, "i2i sample dg")
    assert (net.shape, net.label_dim) == ((3, 8, 8), 0)
    assert net.sigma_min == pytest.approx(0.0100, abs=1e-4)
    assert net.sigma_max == pytest.approx(157.4, abs=0.1)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = torch.tensor([0.5, 20.0], dtype=torch.float64)
    direct = IndexToSigma.for_denoiser(DiscreteDenoiser(loaded.module, loaded.spec))
    with torch.no_grad():
        wrapped = net.module(x, sigma)
        expected = direct(x.float(), sigma).double()
    assert wrapped.dtype == torch.float64
    torch.testing.assert_close(wrapped, expected)
    with torch.no_grad():
        clipped = net.denoiser(None, clip=True)(x, sigma)
    torch.testing.assert_close(clipped, expected.clamp(-1, 1))
    assert not torch.equal(clipped, expected)

    common = ("--device", "cpu", "--backbone", "adm-unet", "--preset", "afhq_dog_4m")
    common += ("--checkpoint", str(weights), "--steps", "5", "--num-samples", "3")
    common += tuple(f"--set=model.{k}={json.dumps(v)}" for k, v in TINY_ADM_8PX.items())
    for method, out, extra in (
        ("edm", "edm", ()),
        ("dg", "plain", ("--config", str(tiny_run["config"]), "--w1", "0")),
        ("dg", "guided", ("--config", str(tiny_run["config"]), "--w1", "2")),
        ("edm", "clipped", ("--clip-denoised",)),
    ):
        result = run_i2i(["sample", method, *common, "--output", str(tmp_path / out), *extra])
        assert result.returncode == 0, result.stderr + result.stdout
    assert np.array_equal(images(tmp_path / "plain"), images(tmp_path / "edm"))
    assert not np.array_equal(images(tmp_path / "guided"), images(tmp_path / "edm"))
    assert not np.array_equal(images(tmp_path / "clipped"), images(tmp_path / "edm"))


def test_a_backbone_of_no_denoiser_kind_is_one_usage_line() -> None:
    """A raw-output network is neither D(x; sigma) nor eps/x0 of a process: one usage line."""
    from i2i_cli.api.settings import Settings
    from i2i_cli.base.errors import UsageError
    from i2i_cli.diffusion.denoiser import ModelSpec
    from i2i_cli.networks.backbones import LoadedBackbone
    from i2i_cli.run.seed_sampling import SigmaNet

    loaded = LoadedBackbone("vq-f4", torch.nn.Identity(), Settings(), ModelSpec(target="raw"))
    with pytest.raises(UsageError, match=r"vq-f4 is neither .* i2i sample dg cannot sample it"):
        SigmaNet.of(loaded, "i2i sample dg")
