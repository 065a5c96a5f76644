"""Running ``i2i`` for the mini-benchmark: in this process or side by side, configs, call counts."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def run_i2i(*groups: Sequence[str]) -> None:
    """Run ``i2i`` with the arguments of ``groups`` (joined) in this process; a non-zero exit
    stops the benchmark with its status."""
    from i2i_cli.cli.app import app

    args = [arg for group in groups for arg in group]
    print("$ i2i " + " ".join(args), flush=True)
    try:  # without standalone mode a command's exit status (130 for Ctrl-C) is returned
        status = app(list(args), prog_name="i2i", standalone_mode=False)
    except SystemExit as stop:
        status = stop.code
    if status not in (0, None):
        verb = "was interrupted" if status == 130 else "failed"
        raise SystemExit(f"i2i {args[0]} {args[1]} {verb} (exit {status}); the benchmark stops")


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """Write ``settings`` as a ``--config`` TOML file."""
    from i2i_cli.api.settings import to_toml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_toml(settings), encoding="utf-8")
    return path


@contextmanager
def counted_calls(counts: dict[str, int]) -> Iterator[None]:
    """Count, per module class name, the items every module forward sees (batch sizes summed)."""
    import torch

    def hook(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        name = type(module).__name__
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
            counts[name] = counts.get(name, 0) + int(inputs[0].shape[0])

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def diffusion_trainer_available() -> bool:
    """Whether ``i2i train diffusion`` loads (the i2i_diffusion trainer is installed)."""
    from i2i_cli.api.registry import Registry

    try:
        Registry.discover().load("trainers", "diffusion")
    except Exception:
        return False
    return True


def finished(command: Sequence[str]) -> bool:
    """Whether the ``--output`` folder of an ``i2i`` command holds a finished run."""
    if "--output" not in command:
        return False
    output = Path(command[list(command).index("--output") + 1])
    return (output / "result.json").is_file()


def run_lanes(lanes: Sequence[Sequence[list[str]]], jobs: int) -> None:
    """Run each lane's ``i2i`` commands in order; with ``jobs`` > 1 the lanes run side by side,
    each in its own ``python -m i2i_cli`` processes (one thread each, OMP_NUM_THREADS=1).

    A command whose ``--output`` already holds a finished run (``result.json``) is skipped, so
    a benchmark stopped half-way continues where it was."""
    lanes = [[c for c in lane if not finished(c)] for lane in lanes]
    if jobs <= 1:
        for lane in lanes:
            for command in lane:
                run_i2i(command)
        return
    import os
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    environment = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run_lane(lane: Sequence[list[str]]) -> None:
        for command in lane:
            print("$ i2i " + " ".join(command), flush=True)
            result = subprocess.run(
                [sys.executable, "-m", "i2i_cli", *command],
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise SystemExit(f"i2i {command[0]} {command[1]} failed:\n{result.stderr[-2000:]}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes]:
            future.result()
