"""``i2i sample edm`` end to end on a tiny EDM-style VP denoiser through the real loader.

The tiny backbone is the fixture distribution ``tinyedm`` (EDM's VP preconditioning around one
seeded convolution, EDM's attributes); its weights go through ``--checkpoint`` as a state dict.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.diffusion.noise import SeedNoise
from i2i_cli.io.outputs import to_uint8
from i2i_cli.run.seed_sampling import SigmaNet, as_written, draw_start, edm_uint8, sigma_grid
from i2i_edm.sample import edm_sample
from i2i_edm.settings import EdmSampleSettings
from tests.conftest import run_i2i
from tests.fixture_dists import use_dists
from tests.persistence_pickles import persisted_tree, persistence_module  # noqa: F401
from tests.test_runtime import free_port
from tests.tiny_models import TINY_EDM

STEPS = "6"


@pytest.fixture
def tiny_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[int, Path]:
    """State-dict files of the tiny denoiser, unconditional (0) and with 4 classes (4)."""
    use_dists(monkeypatch, "tinyedm")
    from i2i_tinyedm.net import TinyVP

    files = {}
    for label_dim in (0, 4):
        files[label_dim] = tmp_path / f"tiny{label_dim}.pt"
        torch.save(TinyVP(8, 3, label_dim).state_dict(), files[label_dim])
    return files


def edm_args(weights: Path, out: Path, *args: str) -> list[str]:
    """The arguments of ``i2i sample edm`` on the tiny backbone (6 steps) into ``out``."""
    preset = "tiny-cond" if weights.stem.endswith("4") else "tiny"
    return [
        "sample",
        "edm",
        "--device",
        "cpu",
        "--backbone",
        "tinyedm",
        "--preset",
        preset,
        "--checkpoint",
        str(weights),
        "--steps",
        STEPS,
        "--output",
        str(out),
        *args,
    ]


def sample_edm(weights: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i sample edm`` on the tiny backbone (6 steps) into ``out``, in this process."""
    return run_i2i(edm_args(weights, out, *args), dists=["tinyedm"])


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def expected_images(weights: Path, seeds: list[int], **options: object) -> torch.Tensor:
    """EDM's uint8 images (N, H, W, C) of ``seeds``, drawn here with EDM's per-seed streams."""
    from i2i_cli.networks.backbones import load_backbone

    label_dim = 4 if weights.stem.endswith("4") else 0
    loaded = load_backbone(
        "tinyedm", overrides={"label_dim": label_dim}, checkpoint=weights, device="cpu"
    )
    net = SigmaNet.of(loaded, "i2i sample edm")
    settings = EdmSampleSettings(steps=int(STEPS), **options)  # type: ignore[arg-type]
    noise = SeedNoise(0, [f"{seed:06d}" for seed in seeds])
    latents, labels = draw_start(noise, net.shape, net.label_dim, "cpu", settings.class_label)
    sigmas = sigma_grid(net, settings, torch.device("cpu"))
    x = edm_sample(net, latents, labels, sigmas, settings, noise)
    return edm_uint8(x).permute(0, 2, 3, 1)


def test_written_pixels_are_edms_uint8_for_every_value() -> None:
    """The [-1, 1] image handed to the pipeline's writer comes back as exactly EDM's uint8."""
    values = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    assert torch.equal(to_uint8(as_written(values).float()), values)
    x = torch.tensor([-2.0, -1.0, -0.999, 0.0, 0.9999, 0.996, 1.5], dtype=torch.float64)
    assert edm_uint8(x).tolist() == [0, 0, 0, 128, 255, 254, 255]  # +128, truncated


def test_seed_range_writes_each_seed_and_resumes_without_drawing(
    tiny_weights: dict[int, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = sample_edm(tiny_weights[0], out, "--seeds", "3-5", "--batch-size", "2")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["000003.png", "000004.png", "000005.png"]
    expected = expected_images(tiny_weights[0], [3, 4, 5])
    for index, seed in enumerate((3, 4, 5)):
        assert np.array_equal(pixels(out / f"{seed:06d}.png"), expected[index].numpy())
    again = sample_edm(tiny_weights[0], out, "--seeds", "3-5")
    assert again.returncode == 0, again.stderr
    assert "3 already done, 0 to draw" in again.stderr


def test_the_image_of_a_seed_does_not_depend_on_the_batch(
    tiny_weights: dict[int, Path], tmp_path: Path
) -> None:
    """Seed 7 alone, and seed 7 in a batch of 3 with other seeds: the same file; churn on."""
    churn = ["--s-churn", "5", "--s-min", "0.01", "--s-max", "100"]
    alone = sample_edm(tiny_weights[0], tmp_path / "a", "--seeds", "7", *churn)
    batch = sample_edm(tiny_weights[0], tmp_path / "b", "--seeds", "2,7,9", *churn)
    assert alone.returncode == 0 and batch.returncode == 0, alone.stderr + batch.stderr
    assert np.array_equal(pixels(tmp_path / "a/000007.png"), pixels(tmp_path / "b/000007.png"))
    assert not np.array_equal(pixels(tmp_path / "b/000002.png"), pixels(tmp_path / "b/000007.png"))


@pytest.mark.parametrize(
    ("args", "files"),
    [
        (["--num-samples", "2"], {0: "000000.png", 1: "000001.png"}),
        (
            ["--seeds", "999-1000", "--subdirs"],
            {999: "000000/000999.png", 1000: "001000/001000.png"},
        ),
    ],
)
def test_seeds_name_the_files_and_subdirs_group_them_by_thousand(
    tiny_weights: dict[int, Path], tmp_path: Path, args: list[str], files: dict[int, str]
) -> None:
    """Without --seeds, seeds 0 .. num-samples - 1; each file is its seed's EDM image."""
    out = tmp_path / "out"
    result = sample_edm(tiny_weights[0], out, *args)
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == sorted(files.values())
    expected = expected_images(tiny_weights[0], list(files))
    for row, name in enumerate(files.values()):
        assert np.array_equal(pixels(out / name), expected[row].numpy())


def sample_npz(weights: Path, out: Path, *args: str) -> dict[str, np.ndarray]:
    """``i2i sample edm ... --npz`` into ``out``: the arrays of its samples.npz."""
    result = sample_edm(weights, out, "--npz", *args)
    assert result.returncode == 0, result.stderr
    with np.load(out / "samples.npz") as data:
        return dict(data)


def test_npz_holds_the_pngs_and_each_seeds_drawn_label(
    tiny_weights: dict[int, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    arrays = sample_npz(tiny_weights[4], out, "--seeds", "0-2", "--batch-size", "2")
    samples, labels = arrays["samples"], arrays["label"]
    assert samples.dtype == np.uint8 and samples.shape == (3, 8, 8, 3)
    for seed in range(3):
        assert np.array_equal(samples[seed], pixels(out / f"{seed:06d}.png"))
    assert np.array_equal(samples, expected_images(tiny_weights[4], [0, 1, 2]).numpy())
    generators = [torch.Generator().manual_seed(seed) for seed in range(3)]
    drawn = []
    for generator in generators:
        torch.randn([3, 8, 8], generator=generator)  # latents first, then the label
        drawn.append(int(torch.randint(4, (), generator=generator)))
    assert labels.argmax(1).tolist() == drawn
    assert labels.sum(1).tolist() == [1.0, 1.0, 1.0]


def test_a_fixed_class_keeps_the_seed_stream_and_changes_the_labels(
    tiny_weights: dict[int, Path], tmp_path: Path
) -> None:
    arrays = sample_npz(tiny_weights[4], tmp_path / "out", "--seeds", "0-1", "--class-label", "3")
    assert arrays["label"].argmax(1).tolist() == [3, 3]
    expected = expected_images(tiny_weights[4], [0, 1], class_label=3)
    assert np.array_equal(arrays["samples"], expected.numpy())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "5-3"], "reversed"),
        (["--seeds", "1,x"], "'x' is not a seed"),
        (["--seeds", "1,1"], "listed twice"),
        (["--class-label", "2"], "needs a conditional network"),
        (["--sigma-min", "500"], "is empty after clamping"),
    ],
)
def test_bad_input_is_one_line(
    tiny_weights: dict[int, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    result = sample_edm(tiny_weights[0], tmp_path / "out", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "out").glob("*.png"))


@pytest.mark.usefixtures("persistence_module")
def test_a_tiny_edm_pickle_samples_through_the_real_backbone(tmp_path: Path) -> None:
    """The default backbone and preset with tiny overrides, weights from an EDM-layout .pkl."""
    from i2i_cli.networks.backbones import load_backbone

    built = load_backbone("edm", preset="edm_cifar10_32x32_uncond_vp", overrides=TINY_EDM)
    kwargs = {k: v for k, v in built.settings.precond_kwargs().items() if k != "init_seed"}
    network = persisted_tree(built.module, "raise SystemExit('executed')\n", kwargs)
    weights = tmp_path / "edm-tiny.pkl"
    weights.write_bytes(pickle.dumps({"ema": network}, protocol=4))
    config = tmp_path / "tiny.toml"
    table = "\n".join(f"{k} = {v}" for k, v in TINY_EDM.items())
    config.write_text(f"[model]\n{table}\n")
    out = tmp_path / "out"
    result = run_i2i(
        [
            *("sample", "edm", "--device", "cpu", "--config", str(config)),
            *("--checkpoint", str(weights), "--steps", STEPS, "--seeds", "0-1"),
            *("--output", str(out)),
        ]
    )
    assert result.returncode == 0, result.stderr
    loaded = load_backbone(
        "edm", preset="edm_cifar10_32x32_uncond_vp", overrides=TINY_EDM, checkpoint=weights
    )
    net = SigmaNet.of(loaded, "i2i sample edm")
    assert (net.label_dim, type(loaded.module).__name__) == (0, "EDMPrecond")
    settings = EdmSampleSettings(steps=int(STEPS))
    noise = SeedNoise(0, ["000000", "000001"])
    latents, labels = draw_start(noise, net.shape, net.label_dim, "cpu")
    x = edm_sample(
        net, latents, labels, sigma_grid(net, settings, torch.device("cpu")), settings, noise
    )
    expected = edm_uint8(x).permute(0, 2, 3, 1).numpy()
    for seed in (0, 1):
        assert np.array_equal(pixels(out / f"{seed:06d}.png"), expected[seed])


@pytest.mark.slow
def test_torchrun_splits_the_seeds_and_gives_each_seeds_image(
    tiny_weights: dict[int, Path], tmp_path: Path
) -> None:
    """Two ranks share seeds 0-4 (--subdirs, --npz): the files of one process, one log."""
    options = ("--seeds", "0-4", "--subdirs", "--npz", "--batch-size", "2")
    one = sample_edm(tiny_weights[4], tmp_path / "one", *options)
    assert one.returncode == 0, one.stderr
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    two = subprocess.run(
        [
            *launcher,
            *("--master_port", str(free_port()), "-m", "i2i_cli"),
            *edm_args(tiny_weights[4], tmp_path / "two", *options),
        ],
        capture_output=True,
        text=True,
    )
    assert two.returncode == 0, two.stderr
    for seed in range(5):
        name = f"000000/{seed:06d}.png"
        assert np.array_equal(pixels(tmp_path / "one" / name), pixels(tmp_path / "two" / name))
    with np.load(tmp_path / "one/samples.npz") as a, np.load(tmp_path / "two/samples.npz") as b:
        assert np.array_equal(a["samples"], b["samples"])
        assert np.array_equal(a["label"], b["label"])
    assert two.stderr.count("wrote") == 1
    assert "done: 5 images in" in two.stderr  # the job's count, not rank 0's 3
