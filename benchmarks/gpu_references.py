"""The GPU suite's reference copies: the mirrors they come from, their export, their imports."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REFERENCE_DIRS = {
    "guided-diffusion": "openai+guided-diffusion",
    "EGSDE": "ML-GSAI+EGSDE",
    "ddib": "suxuann+ddib",
    "DG": "alsdudrla10+DG",
    "edm": "NVlabs+edm",
    "sddm": "skipper17+sddm",
    "score-based-bbdm": "kisonho+score-based-bbdm-a-bridge",
}
"""Folder under ``--references`` -> fetched mirror (``owner+name``) it is exported from."""
SHADOWED = ("guided_diffusion", "functions", "runners", "training", "torch_utils", "dnnlib")
"""Top-level package names several references define: dropped from ``sys.modules`` between
cases so each case imports its own reference's copy."""


@contextlib.contextmanager
def reference_imports(*roots: Path) -> Iterator[None]:
    """``roots`` first on ``sys.path`` and the shadowed package names free to import afresh."""
    for name in list(sys.modules):
        if name.split(".")[0] in SHADOWED:
            del sys.modules[name]
    sys.path[:0] = [str(root) for root in roots]
    try:
        yield
    finally:
        for root in roots:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(root))


def export_references(mirrors: Path, into: Path) -> None:
    """Write each reference's source files (``.py``, configs; no images) from its mirror."""
    keep = (".py", ".yaml", ".yml", ".json", ".txt", ".cfg", ".toml")
    for folder, mirror in REFERENCE_DIRS.items():
        git = mirrors / mirror / "repo"
        if (git / ".git").is_dir():
            git = git / ".git"
        if not git.is_dir():
            source = mirror.replace("+", "/")
            print(f"{folder}: no mirror at {mirrors / mirror} (fetch github:{source})")
            continue
        names = subprocess.run(
            ["git", f"--git-dir={git}", "ls-tree", "-r", "-l", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        written = 0
        for line in names:
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            if not path.endswith(keep) or size == "-" or int(size) > 2_000_000:
                continue
            blob = subprocess.run(["git", f"--git-dir={git}", "show", f"HEAD:{path}"],
                                  capture_output=True, check=True).stdout  # fmt: skip
            target = into / folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
            written += 1
        print(f"{folder}: {written} files from {mirror}")


DEVICE_WHEELS = ("pydantic==2.13.4", "pydantic_core==2.46.4", "annotated-types==0.7.0",
                 "typing-inspection==0.4.2")  # fmt: skip
"""What i2i needs that the H200 image lacks (it has torch, typer, rich, numpy, scipy, pillow)."""
BBDM_DEPS = ("torchmanager==1.2", "torchmanager-diffusion==1.1.1", "einops")
"""The packages SDE-BBDM's manager is built on (``bench_bbdm``)."""


def prepare(mirrors: Path, into: Path, python_version: str = "3.12") -> None:
    """``into/refs`` (the references, ``deps`` among them) and ``into/wheels`` (i2i's missing
    dependencies for the device's Python): everything the offline GPU machine needs."""
    export_references(mirrors, into / "refs")
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(into / "refs" / "deps"),
                    *BBDM_DEPS], check=True)  # fmt: skip
    subprocess.run(
        [*pip, "download", "-q", "--only-binary=:all:", "--no-deps", "--implementation", "cp",
         "--python-version", python_version, "--platform", "manylinux2014_x86_64",
         "--platform", "manylinux_2_17_x86_64", "-d", str(into / "wheels"), *DEVICE_WHEELS],
        check=True,
    )  # fmt: skip
