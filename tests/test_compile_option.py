"""``--compile`` and ``--channels-last``: torch.compile with a clean eager fallback, the wiring.

Compiling on the CPU takes tens of seconds, so these tests replace ``torch.compile`` with
stand-ins that fail (at wrapping time or at the first call) or pass the function through.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from i2i_cli.diffusion import nn as layers
from i2i_cli.run.run_settings import SampleRun, TrainRun, TranslateRun
from i2i_cli.run.runtime import CompiledOrEager, compile_module, create_runtime
from tests.test_egsde_cli import sources, wild2dog


class Net(nn.Module):
    """A conv net with a ``features`` method, like the ADM classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * 2

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def failing_at_call(calls: list[str]) -> Callable[..., Any]:
    """A ``torch.compile`` whose compiled functions raise like a missing C compiler."""

    def compile(function: Callable[..., Any], **_: Any) -> Callable[..., Any]:
        def compiled(*args: Any, **kwargs: Any) -> Any:
            calls.append("compiled")
            raise RuntimeError("InductorError: no working C compiler found\nsecond line")

        return compiled

    return compile


def test_a_compile_failure_is_one_warning_then_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", failing_at_call(calls))
    net = Net().eval()
    x = torch.randn(1, 3, 8, 8)
    expected = net(x)
    lines: list[str] = []
    assert compile_module(net, lines.append) is net
    assert isinstance(net.forward, CompiledOrEager)
    assert torch.equal(net(x), expected)
    assert torch.equal(net(x), expected)
    assert calls == ["compiled"]  # given up after the first failure
    assert lines == [
        "torch.compile of Net.forward failed (RuntimeError: InductorError: no working C "
        "compiler found); running it eagerly"
    ]
    assert list(net.state_dict()) == ["conv.weight", "conv.bias"]


def test_a_failure_to_wrap_is_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(function: Callable[..., Any], **_: Any) -> Callable[..., Any]:
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", unsupported)
    net = Net()
    lines: list[str] = []
    compile_module(net, lines.append)
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(net.features(x), net.conv(x))
    assert len(lines) == 2 and all("running it eagerly" in line for line in lines)


def test_the_inputs_own_error_is_raised_and_compiling_stays_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", failing_at_call(calls))
    net = Net()
    lines: list[str] = []
    compile_module(net, lines.append)
    with pytest.raises(RuntimeError, match="channels"):
        net(torch.randn(1, 5, 8, 8))
    assert lines == [] and not net.forward.failed  # type: ignore[union-attr]


def test_compiled_functions_are_used_when_they_work(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []

    def passthrough(function: Callable[..., Any], **_: Any) -> Callable[..., Any]:
        def compiled(*args: Any, **kwargs: Any) -> Any:
            used.append("compiled")
            return function(*args, **kwargs)

        return compiled

    monkeypatch.setattr(torch, "compile", passthrough)
    net = Net()
    compile_module(net, lambda line: pytest.fail(line))
    net(torch.randn(1, 3, 8, 8))
    net.features(torch.randn(1, 3, 8, 8))
    assert used == ["compiled", "compiled"]


def test_runtime_prepare_applies_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "compile", lambda function, **_: function)
    plain = create_runtime("cpu")
    net = Net()
    assert plain.prepare(net) is net and not isinstance(net.forward, CompiledOrEager)
    fast = create_runtime("cpu", compile=True, channels_last=True)
    fast.prepare(net)
    assert isinstance(net.forward, CompiledOrEager)
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_the_options_are_run_settings_of_translate_and_sample_only() -> None:
    for model in (TranslateRun, SampleRun):
        assert model().compile is False and model().channels_last is False
        assert model(compile=True).compile is True
    assert "compile" not in TrainRun.model_fields


@pytest.mark.slow
def test_translate_with_compile_falls_back_cleanly_and_matches(
    tiny_egsde: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", failing_at_call(calls))
    source = sources(tmp_path / "in") / "src1.png"
    plain = wild2dog("egsde", tiny_egsde, source, tmp_path / "plain")
    fast = wild2dog("egsde", tiny_egsde, source, tmp_path / "fast", "--compile", "--channels-last")
    assert plain.returncode == 0, plain.stderr
    assert fast.returncode == 0, fast.stderr
    warnings = [line for line in fast.stderr.splitlines() if "torch.compile" in line]
    assert warnings and all(line.startswith("warning: torch.compile of ") for line in warnings)
    assert "Traceback" not in fast.stderr and "second line" not in fast.stderr
    a = np.asarray(Image.open(tmp_path / "plain" / "src1.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "fast" / "src1.png"), dtype=int)
    assert np.abs(a - b).max() <= 1


def test_the_frequency_table_stays_out_of_a_compiled_graph() -> None:
    """Under torch.compile the embedding's frequencies are still the eager CPU ``exp`` (cached):
    traced, they would be the compiler's own ``exp``."""
    layers._frequencies.cache_clear()
    t = torch.tensor([0.0, 3.0, 4000.0])
    compiled = torch.compile(lambda steps: layers.timestep_embedding(steps, 74), backend="eager")
    embedding = compiled(t)
    assert layers._frequencies.cache_info().misses == 1  # run eagerly (dynamo skips the cache)
    assert torch.equal(embedding, layers.timestep_embedding(t, 74))


def test_importing_the_core_and_the_2d_model_leaves_the_compiler_unloaded() -> None:
    """``torch.compiler.disable`` at import would load torch._dynamo: over a second per start."""
    code = (
        "import sys, i2i_cli.cli.app, i2i_cli.diffusion.nn, i2i_cli.run.runtime, i2i_ddib.points; "
        "print('torch._dynamo' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
