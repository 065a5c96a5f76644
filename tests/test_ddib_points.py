"""``i2i translate/sample ddib`` on 2-D points and ``i2i train ddib-2d``, on tiny checkpoints.

The networks here are tiny (C = 32, R = 1) random or briefly trained models written to disk, so
the runs go through the real loading code in seconds; quality is tested on the bundled models
(test_ddib_bundled.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_cli.api.settings import SettingsError, parse_toml
from i2i_cli.base.errors import I2IError
from i2i_cli.networks.backbones import trained_record
from i2i_ddib.bundled import BundledModel, verified_path
from i2i_ddib.settings import QUICK_RECIPE, DDIB2DTrainSettings, architecture_of
from tests.conftest import run_i2i
from tests.tiny_models import random_weights, sha256

TINY = ["--set", "model.num_channels=32", "--set", "model.num_res_blocks=1"]

REFERENCE_CYCLE = {
    "source": "moons",
    "target": "checkerboards",
    "num_points": 90_000,
    "cycle": True,
    "official": True,
    "solver": "ddim",
    "clip_denoised": False,
}
"""synthetic_cycle.py as its README command runs it (ddib.md 2.4 and 5: "the whole 90 000-point
set", README flags --source 0 --target 1, DDIM with eta 0 on all 4000 steps, no clipping, the
non-EMA official checkpoints of pitfall 17)."""


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two random-weight 2-D models (C = 32, R = 1, T = 4000) as state-dict files."""
    folder = tmp_path_factory.mktemp("ddib2d")
    overrides = {"num_channels": 32, "num_res_blocks": 1}
    source = random_weights("ddib-2d", "", overrides, folder / "a.pt", seed=1)
    target = random_weights("ddib-2d", "", overrides, folder / "b.pt", seed=2)
    return source, target


def _models(pair: tuple[Path, Path]) -> list[str]:
    """Flags selecting the tiny pair."""
    return ["--source-checkpoint", str(pair[0]), "--target-checkpoint", str(pair[1]), *TINY]


def translate_points(pair: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i translate ddib`` with the tiny pair of models."""
    return run_i2i(["translate", "ddib", *_models(pair), *args])


def _fails_cleanly(result: object, *fragments: str) -> None:
    """Non-zero exit, one error line containing ``fragments``, no traceback."""
    assert result.returncode != 0, result.stdout  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_translation_writes_points_plot_and_result(
    tiny_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """source/latent/target .npy of the drawn points, the plot, and the distance to the target."""
    out = tmp_path / "run"
    result = translate_points(tiny_pair, "--num-points", "60", "--steps", "4", "--output", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("source", "latent", "target"):
        assert np.load(out / f"{name}.npy").shape == (60, 2)
    assert not (out / "source_2.npy").exists()
    record = json.loads((out / "result.json").read_text())
    assert record["steps_per_pass"] == 4 and record["solver"] == "dpmpp2m"
    assert record["target"] == "concentric_squares" and record["target_sliced_wasserstein"] > 0
    assert "cycle_max_l2" not in record
    assert (out / "translation.png").stat().st_size > 1000


def test_cycle_reports_max_and_mean_error(tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """--cycle adds latent_2/source_2 and the errors computed from them."""
    out = tmp_path / "run"
    result = translate_points(
        tiny_pair,
        "--num-points",
        "36",
        "--steps",
        "3",
        "--cycle",
        "--solver",
        "ddim",
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    source, returned = np.load(out / "source.npy"), np.load(out / "source_2.npy")
    distance = np.linalg.norm(source - returned, axis=1)
    record = json.loads((out / "result.json").read_text())
    assert record["cycle_max_l2"] == pytest.approx(distance.max(), rel=1e-5)
    assert record["cycle_mean_l2"] == pytest.approx(distance.mean(), rel=1e-5)
    assert "cycle error: max" in result.stderr


def test_points_from_an_npy_file(tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """--input FILE.npy translates those points, in their order."""
    points = np.random.default_rng(0).standard_normal((7, 2)).astype(np.float32)
    np.save(tmp_path / "mine.npy", points)
    out = tmp_path / "run"
    result = translate_points(
        tiny_pair, "--steps", "2", "--input", str(tmp_path / "mine.npy"), "--output", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert np.array_equal(np.load(out / "source.npy"), points)


def test_sampling_writes_points_and_distance(tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """i2i sample ddib decodes Gaussian latents with the --target model."""
    out = tmp_path / "run"
    result = run_i2i(
        [
            "sample",
            "ddib",
            "--task",
            "moons",
            *_models(tiny_pair),
            "--num-samples",
            "30",
            "--steps",
            "3",
            "--output",
            str(out),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert np.load(out / "points.npy").shape == (30, 2)
    assert (out / "samples.png").is_file()
    record = json.loads((out / "result.json").read_text())
    assert record["sliced_wasserstein"] > 0
    assert 0.0 <= record["support_precision"] <= 1.0
    assert 0.9 <= record["data_support_coverage"] <= 1.0
    assert "support on moons: precision" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("array", "fragment"),
    [(np.zeros((5, 3)), "expected (n, 2)"), (np.array([[np.nan, 0.0]]), "non-finite")],
)
def test_bad_point_files_are_one_line(
    tiny_pair: tuple[Path, Path], tmp_path: Path, array: np.ndarray, fragment: str
) -> None:
    """Wrong shapes and NaNs in --input are refused before any model runs."""
    np.save(tmp_path / "bad.npy", array)
    result = translate_points(
        tiny_pair, "--input", str(tmp_path / "bad.npy"), "--output", str(tmp_path / "run")
    )
    _fails_cleanly(result, fragment)


def test_image_file_as_point_input_is_one_line(
    tiny_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """2-D translation says it reads .npy files."""
    (tmp_path / "x.png").write_bytes(b"not really")
    result = translate_points(
        tiny_pair, "--input", str(tmp_path / "x.png"), "--output", str(tmp_path / "run")
    )
    _fails_cleanly(result, ".npy")


def test_unknown_data_set_lists_the_known_ones(tmp_path: Path) -> None:
    """A misspelt data set names all six."""
    result = run_i2i(["translate", "ddib", "--source", "blobs", "--output", str(tmp_path)])
    _fails_cleanly(result, "blobs", "parallel_squares")


def test_official_checkpoints_missing_name_the_download(tmp_path: Path) -> None:
    """--official without the synthetic download says what to fetch, both at once."""
    result = run_i2i(["translate", "ddib", "--official", "--output", str(tmp_path)])
    _fails_cleanly(result, "i2i download ddib_2d_moons ddib_2d_concentric_squares")


def test_too_many_steps_is_one_line(tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """More steps than the process has is refused with the allowed range."""
    result = run_i2i(
        ["translate", "ddib", *_models(tiny_pair), "--steps", "5000", "--output", str(tmp_path)]
    )
    _fails_cleanly(result, "2 to 4000")


def test_checkpoint_of_another_architecture_is_one_line(
    tiny_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """A 2-D checkpoint forced to another width (--set wins over its shapes) says what differs."""
    result = run_i2i(
        [
            "translate",
            "ddib",
            "--source-checkpoint",
            str(tiny_pair[0]),
            "--target-checkpoint",
            str(tiny_pair[1]),
            "--set",
            "model.num_channels=64",
            "--output",
            str(tmp_path),
        ]
    )
    _fails_cleanly(result, "does not fit")


def test_quick_fills_only_what_was_not_given() -> None:
    """--quick takes the quick recipe's values except those set explicitly, at validation."""
    settings = DDIB2DTrainSettings(quick=True, steps=7, model={"dropout": 0.1})
    assert settings.steps == 7
    assert settings.batch_size == QUICK_RECIPE["batch_size"]
    assert settings.timesteps == "log-snr"
    assert settings.model == {**QUICK_RECIPE["model"], "dropout": 0.1}
    assert DDIB2DTrainSettings().batch_size == 20_000


def test_the_run_record_of_quick_holds_the_recipe_it_ran() -> None:
    """run.toml of ``--quick`` shows its steps and t draw, not the official defaults."""
    result = run_i2i(["train", "ddib-2d", "--task", "moons", "--quick", "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert "steps = 8000" in result.stdout and 'timesteps = "log-snr"' in result.stdout


def test_trained_model_translates_and_training_resumes(tmp_path: Path) -> None:
    """i2i train ddib-2d writes a model.pt ddib loads as it is; --resume continues to more steps.

    The translation names no architecture: width and depth come from the checkpoint's shapes.
    """
    out = tmp_path / "train"
    flags = ["train", "ddib-2d", "--task", "moons", "--quick", "--batch-size", "32"]
    flags += ["--num-points", "240", *TINY, "--output", str(out)]
    first = run_i2i([*flags, "--steps", "4"])
    assert first.returncode == 0, first.stderr
    resumed = run_i2i([*flags, "--steps", "6", "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 6
    run = run_i2i(
        [
            "translate",
            "ddib",
            "--source-checkpoint",
            str(out / "model.pt"),
            "--target-checkpoint",
            str(out / "model.pt"),
            "--steps",
            "2",
            "--num-points",
            "24",
            "--output",
            str(tmp_path / "run"),
        ]
    )
    assert run.returncode == 0, run.stderr


def test_batch_larger_than_the_data_is_one_line(tmp_path: Path) -> None:
    """Training asks for a smaller batch or more points."""
    result = run_i2i(
        [
            "train",
            "ddib-2d",
            "--task",
            "moons",
            "--num-points",
            "100",
            "--batch-size",
            "200",
            *TINY,
            "--steps",
            "1",
            "--output",
            str(tmp_path),
        ]
    )
    _fails_cleanly(result, "--batch-size 200")


def test_architecture_is_read_from_the_shapes(tiny_pair: tuple[Path, Path]) -> None:
    """C, R and the point dimension of a 2-D state dict; other state dicts give nothing."""
    state = torch.load(tiny_pair[0], weights_only=True)
    assert architecture_of(state) == {"num_channels": 32, "in_channels": 2, "num_res_blocks": 1}
    assert architecture_of({"conv.weight": torch.zeros(3, 3)}) == {}


def test_damaged_bundled_model_is_refused(tmp_path: Path) -> None:
    """A bundled file whose sha256 differs from the manifest is an error, not a silent load."""
    path = tmp_path / "moons.pt"
    torch.save({"w": torch.zeros(2)}, path)
    good = BundledModel("moons", path, sha256(path), {}, "i2i train ddib-2d --task moons", "raw")
    assert verified_path(good) == path
    damaged = BundledModel("moons", path, "0" * 64, {}, "", "raw")
    with pytest.raises(I2IError, match="damaged"):
        verified_path(damaged)


@pytest.mark.parametrize("seed", [0, 1])
def test_log_snr_timesteps_are_uniform_in_log_snr(seed: int) -> None:
    """--timesteps log-snr: lambda_t of the draws is uniform between the process's ends."""
    from i2i_cli.diffusion.schedule import DiscreteSchedule
    from i2i_ddib.train import log_snr_timesteps, uniform_timesteps

    tables = DiscreteSchedule.named("linear", 4000).tables(torch.device("cpu"))
    abar = tables.alphas_cumprod.double()
    log_snr = (abar / (1 - abar)).log()
    generator = torch.Generator().manual_seed(seed)
    t = log_snr_timesteps(tables)(40_000, generator, torch.device("cpu"))
    assert t.dtype == torch.int64 and int(t.min()) >= 0 and int(t.max()) <= 3999
    share = (log_snr[t] - log_snr[-1]) / (log_snr[0] - log_snr[-1])
    counts = np.histogram(share.numpy(), bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts / 4000 - 1) < 0.1), counts
    low_noise = int((t < 40).sum())
    uniform = uniform_timesteps(4000)(40_000, torch.Generator().manual_seed(seed), t.device)
    assert low_noise > 10 * int((uniform < 40).sum())


def test_too_few_samples_to_score_still_sample(tmp_path: Path) -> None:
    """5 samples of a data set drawn in multiples of 12: points and distance, no support scores."""
    out = tmp_path / "run"
    result = run_i2i(
        [
            *("sample", "ddib", "--task", "concentric_squares", "--num-samples", "5"),
            *("--steps", "3", "--output", str(out)),
        ]
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "result.json").read_text())
    assert np.load(out / "points.npy").shape == (5, 2)
    assert "support_precision" not in record and record["sliced_wasserstein"] > 0


def _tiny_training(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A few steps of the official recipe (EMA 0.9999 kept) on a tiny model and 64 points."""
    flags = ["train", "ddib-2d", "--task", "moons", "--batch-size", "16", "--num-points", "64"]
    return run_i2i([*flags, *TINY, "--steps", "3", "--output", str(out), *args])


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_training_exports_the_raw_weights_unless_ema_is_asked_for(tmp_path: Path) -> None:
    """model.pt holds the raw weights, as the reference's scripts load model*.pt, not the EMA;
    --export ema exports the average, in a fresh run or by --resume of a finished one."""
    raw = _tiny_training(tmp_path / "raw")
    assert raw.returncode == 0, raw.stderr
    saved = torch.load(tmp_path / "raw" / "checkpoint.pt", weights_only=True)
    exported = torch.load(tmp_path / "raw" / "model.pt", weights_only=True)
    assert not _same_tensors(saved["model"], saved["ema"])
    assert _same_tensors(exported, saved["model"])
    record = trained_record("ddib-2d", tmp_path / "raw" / "model.pt")  # its backbone.toml
    assert record is not None
    assert (record.settings["num_channels"], record.settings["num_res_blocks"]) == (32, 1)
    again = _tiny_training(tmp_path / "raw", "--resume", "--export", "ema")
    assert again.returncode == 0, again.stderr
    assert _same_tensors(torch.load(tmp_path / "raw" / "model.pt"), saved["ema"])
    ema = _tiny_training(tmp_path / "ema", "--export", "ema")
    assert ema.returncode == 0, ema.stderr
    assert _same_tensors(torch.load(tmp_path / "ema" / "model.pt"), saved["ema"])


def test_export_of_the_ema_needs_an_ema() -> None:
    """--export ema with EMA off is one line; --quick (EMA exported) with EMA off exports raw."""
    with pytest.raises(SettingsError, match="--export ema"):
        DDIB2DTrainSettings(export="ema", ema_decay=None)
    assert DDIB2DTrainSettings(quick=True, ema_decay=None).export == "raw"
    assert DDIB2DTrainSettings(quick=True).export == "ema"
    assert DDIB2DTrainSettings().export == "raw"


def _resolved(*args: str) -> dict[str, object]:
    """The settings ``i2i translate ddib ARGS --dry-run`` resolves (its run.toml)."""
    result = run_i2i(["translate", "ddib", *args, "--dry-run"])
    assert result.returncode == 0, result.stderr
    return parse_toml(result.stdout, "--dry-run")


def test_the_reference_cycle_preset_runs_synthetic_cycle_py() -> None:
    """--task moons2checkerboards-reference: 90 000 points, official raw weights, DDIM on all
    4000 steps (steps unset), no clipping; the quick tasks keep 3000 points."""
    resolved = _resolved("--task", "moons2checkerboards-reference")
    assert {name: resolved[name] for name in REFERENCE_CYCLE} == REFERENCE_CYCLE
    assert "steps" not in resolved
    for quick in ("moons2checkerboards", "moons2squares"):
        assert _resolved("--task", quick)["num_points"] == 3000
