"""The executable's help: every command documented, and fast (torch is not imported for help)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import run_i2i
from tests.fixture_dists import use_dists

HELP_PROBE = """
import runpy, sys
sys.argv = ["i2i", *sys.argv[1:]]
try:
    runpy.run_module("i2i_cli", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write("TORCH-IMPORTED" if "torch" in sys.modules else "TORCH-NOT-IMPORTED")
"""


@pytest.fixture(autouse=True)
def smoke_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke method is a test fixture distribution, not a shipped plugin."""
    use_dists(monkeypatch, "smoke")


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["translate", "--help"],
        ["translate", "smoke", "--help"],
        ["sample", "smoke", "--help"],
        ["translate", "egsde", "--help"],
        ["sample", "diffusion", "--help"],
        ["train", "--help"],
        ["train", "dse", "--help"],
        ["evaluate", "--help"],
        ["evaluate", "fid", "--help"],
        ["download", "--help"],
        ["plugins"],
    ],
)
def test_help_does_not_import_torch(args: list[str]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, *args], capture_output=True, text=True
    )
    assert "TORCH-NOT-IMPORTED" in probe.stderr, probe.stderr
    assert "Traceback" not in probe.stderr


def test_root_help_lists_every_subcommand() -> None:
    result = run_i2i(["--help"])
    assert result.returncode == 0
    for command in ("download", "train", "translate", "sample", "evaluate", "plugins"):
        assert command in result.stdout


def test_translate_help_lists_registered_methods() -> None:
    result = run_i2i(["translate", "--help"])
    assert result.returncode == 0
    assert "smoke" in result.stdout


def test_method_help_is_generated_from_its_settings_model() -> None:
    result = run_i2i(["translate", "smoke", "--help"], env={"COLUMNS": "200"})
    assert result.returncode == 0
    out = result.stdout
    for text in (
        "--noise-level",
        "Std of the Gaussian perturbation",
        "Range: 0.0 <= x <= 1.0",
        "Default: 0.1.",
        "--steps",
        "--task",
        "gentle",
        "--config",
        "--set",
        "--dry-run",
        "--input",
        "--precision",
        "One of: fp32, bf16, fp16",
        "--overwrite",
    ):
        assert text in out, text


def test_python_dash_m_runs_the_same_app() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "i2i_cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "translate" in result.stdout
