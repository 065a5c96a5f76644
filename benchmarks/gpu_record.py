"""The GPU suite's record: its plans (sizes), its rows, the run that writes them (JSON, table)."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Plan:
    """Sizes of one suite run (``REAL``: the H200 run; ``SMOKE``: the CPU logic check)."""

    unet_size: int
    unet_overrides: dict[str, Any]
    unet_batches: tuple[int, ...]
    compile_batches: tuple[int, ...]
    egsde_size: int
    egsde_batch: int
    ddib_size: int
    ddib_batch: int
    ddib_overrides: dict[str, Any]
    classifier_overrides: dict[str, Any]
    dg_batch: int
    dg_steps: int
    sddm_size: int
    sddm_batch: int
    sddm_steps: int
    bbdm_size: int
    bbdm_batch: int
    bbdm_width: int
    warmup: int
    repeats: int


REAL = Plan(
    unet_size=256, unet_overrides={}, unet_batches=(1, 8, 32), compile_batches=(32, 8, 1),
    egsde_size=256, egsde_batch=8, ddib_size=256, ddib_batch=4, ddib_overrides={},
    classifier_overrides={}, dg_batch=128, dg_steps=18, sddm_size=256, sddm_batch=2,
    sddm_steps=100, bbdm_size=256, bbdm_batch=8, bbdm_width=128, warmup=1, repeats=2,
)  # fmt: skip
CHECK = Plan(
    unet_size=64, unet_overrides={}, unet_batches=(1,), compile_batches=(1,), egsde_size=64,
    egsde_batch=1, ddib_size=64, ddib_batch=1, ddib_overrides={}, classifier_overrides={},
    dg_batch=1, dg_steps=2, sddm_size=64, sddm_batch=1, sddm_steps=4, bbdm_size=64,
    bbdm_batch=1, bbdm_width=64, warmup=0, repeats=1,
)  # fmt: skip
"""``--check``: the real networks at small sizes with the references, to check them on a CPU."""
SMOKE = Plan(
    unet_size=32, unet_overrides={"num_channels": 32, "channel_mult": "1,2"},
    unet_batches=(1, 2), compile_batches=(1,), egsde_size=32, egsde_batch=1, ddib_size=32,
    ddib_batch=1, ddib_overrides={"num_channels": 32, "num_res_blocks": 1, "channel_mult": "1,2",
    "attention_resolutions": "16"}, classifier_overrides={"width": 32, "depth": 1,
    "channel_mult": "1,2", "attention_resolutions": "16"}, dg_batch=1, dg_steps=2,
    sddm_size=32, sddm_batch=1, sddm_steps=4, bbdm_size=32, bbdm_batch=1, bbdm_width=64,
    warmup=0, repeats=1,
)  # fmt: skip


@dataclass
class Row:
    """One implementation at one configuration: throughput, memory, arithmetic, agreement."""

    section: str
    implementation: str
    precision: str
    batch: int
    options: str = ""
    images_per_s: float | None = None
    reference_images_per_s: float | None = None
    ratio: float | None = None
    peak_mib: float | None = None
    tflop_per_image: float | None = None
    achieved_tflops: float | None = None
    peak_share: float | None = None
    max_abs_difference: float | None = None
    max_abs_output: float | None = None
    bf16_drift: float | None = None
    psnr_db: float | None = None
    nfe: int | None = None
    seconds: list[float] = field(default_factory=list)
    note: str = ""


@dataclass
class Suite:
    """The run: device, plan, budget, rows so far, and where they are written."""

    device: torch.device
    plan: Plan
    references: Path | None
    smoke: bool
    budget_s: float
    peak_tflops: float
    out: Path | None
    config: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def over_budget(self) -> bool:
        """Whether the time budget is spent (later cases are skipped)."""
        return time.perf_counter() - self.started > self.budget_s

    def reference(self, name: str) -> Path | None:
        """The reference copy ``name`` under ``--references``; None where missing or smoke."""
        if self.smoke or self.references is None or not (self.references / name).is_dir():
            return None
        return self.references / name

    def add(self, row: Row) -> Row:
        """Record ``row`` (share of peak filled in) and rewrite the outputs."""
        if row.achieved_tflops is not None:
            row.peak_share = row.achieved_tflops / self.peak_tflops
        self.rows.append(row)
        self.write()
        return row

    def payload(self) -> dict[str, Any]:
        """Everything the JSON holds."""
        return {
            "config": self.config,
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "elapsed_s": time.perf_counter() - self.started,
            "peak_tflops": self.peak_tflops,
            "rows": [asdict(row) for row in self.rows],
            "notes": self.notes,
        }

    def write(self) -> None:
        """Rewrite ``OUT.json`` and ``OUT.md`` (nothing without ``--out``)."""
        if self.out is None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.with_suffix(".json").write_text(json.dumps(self.payload(), indent=2) + "\n")
        self.out.with_suffix(".md").write_text(markdown(self.payload()))


def machine() -> dict[str, Any]:
    """Where the figures were measured: processor, threads, torch, CUDA device and version."""
    info: dict[str, Any] = {
        "processor": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def _number(value: float | None, digits: str) -> str:
    return "" if value is None else format(value, digits)


def markdown(payload: dict[str, Any]) -> str:
    """The suite's table: one line per row, then the machine, date and notes."""
    lines = [
        "| section | implementation | precision | options | batch | NFE | images/s "
        "| reference images/s | ratio | peak MiB | TFLOP/image | TFLOP/s | % of peak "
        "| max abs diff fp32 | bf16 drift | PSNR dB | note |",
        "|" + "---|" * 17,
    ]
    for row in payload["rows"]:
        share = row["peak_share"]
        cells = [
            row["section"], row["implementation"], row["precision"], row["options"],
            str(row["batch"]), "" if row["nfe"] is None else str(row["nfe"]),
            _number(row["images_per_s"], ".4g"), _number(row["reference_images_per_s"], ".4g"),
            _number(row["ratio"], ".2f") + ("x" if row["ratio"] is not None else ""),
            _number(row["peak_mib"], ".0f"), _number(row["tflop_per_image"], ".4g"),
            _number(row["achieved_tflops"], ".1f"), _number(None if share is None else
            100 * share, ".1f"), _number(row["max_abs_difference"], ".2e"),
            _number(row["bf16_drift"], ".2e"), _number(row["psnr_db"], ".1f"), row["note"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    info = payload["machine"]
    device = info.get("cuda_device", info["processor"])
    lines += [
        "",
        f"{device}, torch {info['torch']}, {payload['date']}, {payload['elapsed_s']:.0f} s; "
        f"% of peak: achieved TFLOP/s over {payload['peak_tflops']:g} TFLOP/s.",
    ]
    lines += [f"- {note}" for note in payload["notes"]]
    return "\n".join(lines) + "\n"
