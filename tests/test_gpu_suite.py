"""The GPU suite's logic on the CPU: ``benchmarks/gpu_suite.py --smoke`` and its helpers."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_suite.py"


def suite_module() -> ModuleType:
    """``benchmarks/gpu_suite.py`` imported as a module (it puts its folder on ``sys.path``)."""
    spec = importlib.util.spec_from_file_location("gpu_suite", SCRIPT)
    assert spec is not None and spec.loader is not None
    if "gpu_suite" not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_suite"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["gpu_suite"]


@pytest.mark.slow
def test_smoke_run_writes_one_json_and_one_table_with_every_section(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(out.with_suffix(".json").read_text())
    rows = payload["rows"]
    sections = {row["section"].split()[0] for row in rows}
    assert sections == {"egsde", "ddib", "dg", "sddm", "bbdm", "unet"}
    for row in rows:
        assert row["images_per_s"] > 0
        assert row["seconds"]
    ours = [row for row in rows if row["note"] != "reference"]
    for row in ours:
        assert row["reference_images_per_s"] is not None, row
        assert row["ratio"] == pytest.approx(row["images_per_s"] / row["reference_images_per_s"])
        assert row["tflop_per_image"] > 0
        assert row["peak_share"] == pytest.approx(row["achieved_tflops"] / 790.0)
        if row["precision"] == "fp32" and row["options"] in ("", "contiguous", "ddim"):
            assert row["max_abs_difference"] == 0.0  # the stand-in is the same computation
        if row["precision"] == "bf16":
            assert math.isfinite(row["bf16_drift"]) and row["psnr_db"] > 10
    ddib = {row["options"]: row for row in ours if row["section"].startswith("ddib")}
    assert ddib["ddim"]["nfe"] == 16 and ddib["dpmpp2m (default)"]["nfe"] == 8
    table = out.with_suffix(".md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == len(rows) + 1  # the header, then one line per row
    assert "% of peak" in table and "stand-in (i2i fp32)" in table


def test_a_spent_budget_skips_every_section_with_a_note(tmp_path: Path) -> None:
    gpu_suite = suite_module()
    out = tmp_path / "suite"
    gpu_suite.main(["--smoke", "--device", "cpu", "--budget-s", "0", "--out", str(out)])
    payload = json.loads(out.with_suffix(".json").read_text())
    assert payload["rows"] == []
    skipped = [note for note in payload["notes"] if "time budget" in note]
    assert len(skipped) == len(gpu_suite.SMOKED)


def test_unknown_section_is_one_line() -> None:
    gpu_suite = suite_module()
    with pytest.raises(SystemExit, match="unknown sections nope"):
        gpu_suite.main(["--smoke", "--device", "cpu", "--sections", "unet,nope"])


def test_psnr_and_difference_helpers() -> None:
    gpu_suite = suite_module()
    a = torch.zeros(1, 3, 4, 4)
    b = a + 0.02
    assert gpu_suite.max_abs(a, b) == pytest.approx(0.02)
    assert gpu_suite.psnr(a, b) == pytest.approx(10 * math.log10(4 / 0.02**2))
    assert gpu_suite.psnr(a, a) == math.inf
    assert gpu_suite.psnr(a - 5, a - 1) == math.inf  # both clamp to -1


def test_flop_count_includes_the_input_gradient() -> None:
    gpu_suite = suite_module()
    weight = torch.randn(8, 16)

    def forward() -> torch.Tensor:
        return torch.randn(4, 16) @ weight.T

    def guided() -> torch.Tensor:
        x = torch.randn(4, 16, requires_grad=True)
        (gradient,) = torch.autograd.grad((x @ weight.T).sum(), x)
        return gradient

    assert gpu_suite.count_flops(forward) == 2 * 4 * 16 * 8
    assert gpu_suite.count_flops(guided) == 2 * (2 * 4 * 16 * 8)


def test_timed_measures_each_call_after_warm_up() -> None:
    gpu_suite = suite_module()
    calls = []
    seconds, peak, output = gpu_suite.timed(
        lambda: calls.append(1) or len(calls), torch.device("cpu"), 2, 3
    )
    assert len(calls) == 5 and len(seconds) == 3 and peak is None and output == 5


def test_export_writes_sources_only(tmp_path: Path) -> None:
    gpu_suite = suite_module()
    mirror = tmp_path / "mirrors" / "openai+guided-diffusion" / "repo"
    mirror.mkdir(parents=True)
    git = ["git", "-C", str(mirror)]
    subprocess.run([*git, "init", "-q"], check=True)
    (mirror / "guided_diffusion").mkdir()
    (mirror / "guided_diffusion" / "unet.py").write_text("X = 1\n")
    (mirror / "figure.png").write_bytes(b"\x89PNG")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run(
        [*git, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True
    )
    gpu_suite.export_references(tmp_path / "mirrors", tmp_path / "refs")
    written = sorted(p.relative_to(tmp_path / "refs") for p in (tmp_path / "refs").rglob("*.*"))
    assert written == [Path("guided-diffusion/guided_diffusion/unet.py")]
