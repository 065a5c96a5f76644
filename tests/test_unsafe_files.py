"""Hostile and broken files are refused in one line that names the file and never advises an
unsafe load (no ``weights_only=False``, no ``allow_pickle``), whatever torch's own wording."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.base.errors import I2IError
from i2i_cli.metrics.detector_files import DetectorFileError, read_detector_pickle
from i2i_cli.weights.arrays import array_error_reason, read_npz_arrays
from i2i_cli.weights.loading import (
    error_reason,
    forbidden_global,
    load_checkpoint,
)
from i2i_cli.weights.safe_pickle import UnsafePickleError, restricted_load

UNSAFE_ADVICE = ("weights_only", "allow_pickle", "safe_globals", "will likely succeed")


class RunsAShell:
    """Unpickling this calls ``os.system`` (never reached: the loaders refuse it first)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("true",))


class PlainObject:
    """A class of a module torch does not block: refused all the same."""


def assert_safe_line(message: str, *words: str) -> None:
    """One line, naming ``words``, with no advice to load unsafely."""
    assert "\n" not in message
    for word in words:
        assert word in message, message
    for advice in UNSAFE_ADVICE:
        assert advice not in message, message


def test_a_torch_file_asking_for_a_blocked_module_names_the_global(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weight": RunsAShell()}, path)
    with pytest.raises(I2IError) as caught:
        load_checkpoint(path)
    assert_safe_line(str(caught.value), str(path), "not allowed to run", "system")
    assert "corrupt" not in str(caught.value)


def test_a_torch_file_asking_for_a_class_names_the_class(tmp_path: Path) -> None:
    path = tmp_path / "object.pt"
    torch.save({"weight": PlainObject()}, path)
    with pytest.raises(I2IError) as caught:
        load_checkpoint(path, mmap=True)
    assert_safe_line(str(caught.value), str(path), "not allowed to run", "PlainObject")


@pytest.mark.parametrize(
    "wording",
    [
        "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` "
        "will likely succeed.\n\nUnsupported global: GLOBAL os.system was not an allowed global",
        "Weights only load failed.\n\tWeightsUnpickler error: Trying to load unsupported GLOBAL "
        "os.system whose module os is blocked.",
        "Weights only load failed.\n\nTrying to load unsupported GLOBAL os.system whose "
        "module os is blocked.",
    ],
)
def test_every_known_torch_wording_yields_the_global(wording: str) -> None:
    assert forbidden_global(pickle.UnpicklingError(wording)) == "os.system"


@pytest.mark.parametrize(
    "wording",
    [
        "Weights only load failed.\nWeightsUnpickler error: Trying to instantiate unsupported "
        "class <class 'evil.Payload'>",
        "Weights only load failed.\nWeightsUnpickler error: Can only build Tensor, Parameter, "
        "OrderedDict or types allowlisted via `add_safe_globals`, but got <class 'evil.Payload'>",
    ],
)
def test_the_other_refusals_name_the_class(wording: str) -> None:
    assert forbidden_global(pickle.UnpicklingError(wording)) == "evil.Payload"


def test_a_weights_only_failure_keeps_the_reason_and_drops_the_advice() -> None:
    error = pickle.UnpicklingError(
        "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` "
        "will likely succeed.\nPlease file an issue: WeightsUnpickler error: \n\n"
        "Unsupported operand 167\n\nCheck the documentation of torch.load"
    )
    assert error_reason(error) == "Unsupported operand 167"


def test_random_bytes_are_corrupt_not_hostile(tmp_path: Path) -> None:
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(I2IError) as caught:
        load_checkpoint(path)
    assert_safe_line(str(caught.value), str(path), "is not a checkpoint (its first bytes")


def test_an_html_page_is_named_a_web_page(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_text("<!DOCTYPE html><html><title>Google Drive - Virus scan warning</title>")
    with pytest.raises(I2IError) as caught:
        load_checkpoint(path)
    assert_safe_line(str(caught.value), str(path), "web page (HTML)")


def test_the_restricted_unpickler_says_what_was_refused(tmp_path: Path) -> None:
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps({"net": RunsAShell()}))
    with pytest.raises(UnsafePickleError) as caught:
        restricted_load(path)
    assert_safe_line(str(caught.value), str(path), "not allowed to run", "system")


def test_a_hostile_detector_pickle_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "inception.pkl"
    path.write_bytes(pickle.dumps(RunsAShell()))
    with pytest.raises(DetectorFileError) as caught:
        read_detector_pickle(path)
    assert_safe_line(str(caught.value), str(path), "not allowed to run", "system")


def test_a_detector_pickle_with_hostile_storage_bytes_names_the_file(tmp_path: Path) -> None:
    class HostileStorage:
        def __reduce__(self) -> tuple[Any, ...]:
            import io

            buffer = io.BytesIO()
            torch.save(RunsAShell(), buffer, _use_new_zipfile_serialization=False)
            from torch.storage import _load_from_bytes

            return (_load_from_bytes, (buffer.getvalue(),))

    path = tmp_path / "inception.pkl"
    path.write_bytes(pickle.dumps(HostileStorage()))
    with pytest.raises(DetectorFileError) as caught:
        read_detector_pickle(path)
    assert_safe_line(str(caught.value), str(path), "system")


def test_an_object_array_is_refused_without_the_allow_pickle_hint(tmp_path: Path) -> None:
    path = tmp_path / "stats.npz"
    np.savez(path, mu=np.array([{"a": 1}], dtype=object))
    with pytest.raises(I2IError) as caught:
        read_npz_arrays(path)
    assert_safe_line(str(caught.value), str(path), "Python objects", "not allowed to run")


def test_numpy_s_pickle_hint_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "points.npy"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError) as caught:
        np.load(path, allow_pickle=False)
    assert_safe_line(array_error_reason(caught.value), "not an .npy/.npz file")


def test_reference_statistics_of_python_objects_are_refused(tmp_path: Path) -> None:
    from i2i_cli.metrics.statsfile import read_stats

    path = tmp_path / "ref.npz"
    np.savez(path, mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1))
    with pytest.raises(I2IError) as caught:
        read_stats(path)
    assert_safe_line(str(caught.value), str(path), "Python objects")
