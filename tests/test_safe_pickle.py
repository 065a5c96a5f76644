"""The restricted unpickler: it builds what the allow-list names and refuses anything else."""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.base.errors import I2IError
from i2i_cli.weights.safe_pickle import (
    Refusal,
    StandIn,
    UnsafePickleError,
    numpy_scalar_globals,
    restricted_load,
    stand_in,
    tensor_globals,
)

PERSISTENCE = "torch_utils.persistence._reconstruct_persistent_obj"
MODULE_DICT = "torch.nn.modules.container.ModuleDict"


class Payload:
    """An object whose unpickling would create a marker file through ``os.system``."""

    def __init__(self, marker: Path) -> None:
        """Remember where the marker goes."""
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Unpickling calls ``os.system('touch <marker>')``."""
        return os.system, (f"touch {self.marker}",)


def dump(obj: Any, path: Path, protocol: int = 4) -> Path:
    """Pickle ``obj`` to ``path`` with ``protocol``; the path."""
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def test_a_reduce_payload_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = dump({"weights": [1, 2], "evil": Payload(marker)}, tmp_path / "evil.pkl")
    with pytest.raises(UnsafePickleError) as caught:
        restricted_load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert f"{os.system.__module__}.system" in message
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_an_unknown_global_is_refused_naming_it_and_the_file(tmp_path: Path, protocol: int) -> None:
    path = dump({"x": Path("a")}, tmp_path / "path.pkl", protocol)
    with pytest.raises(UnsafePickleError, match=r"pathlib\.\w*Path.*not allow-listed") as caught:
        restricted_load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_plain_containers_need_no_allow_list(tmp_path: Path) -> None:
    value = {"a": [1, 2.5, "s", b"raw", None], "b": (True, frozenset({3})), "c": {4, 5}}
    for protocol in (2, 4):
        assert restricted_load(dump(value, tmp_path / f"plain{protocol}.pkl", protocol)) == value


def test_an_allow_listed_class_is_rebuilt(tmp_path: Path) -> None:
    path = dump(OrderedDict(first=Path("a/b")), tmp_path / "path.pkl")
    name = f"{type(Path('a')).__module__}.{type(Path('a')).__qualname__}"
    loaded = restricted_load(path, {name: type(Path("a"))})
    assert loaded == OrderedDict(first=Path("a/b")) and type(loaded) is OrderedDict


def test_a_stand_in_records_what_the_pickle_gives_it(tmp_path: Path) -> None:
    module = torch.nn.ModuleDict({"lin": torch.nn.Linear(2, 3)})
    path = dump(module, tmp_path / "module.pkl")
    names = {
        MODULE_DICT: stand_in(MODULE_DICT),
        "torch.nn.modules.linear.Linear": stand_in("torch.nn.modules.linear.Linear"),
    }
    loaded = restricted_load(path, names)
    assert isinstance(loaded, StandIn) and loaded.pickled_as.endswith("ModuleDict")
    linear = loaded.state["_modules"]["lin"]
    assert repr(linear) == "StandIn(torch.nn.modules.linear.Linear)"
    torch.testing.assert_close(linear.state["_parameters"]["weight"], module.lin.weight)
    assert isinstance(linear.state["_parameters"]["weight"], torch.nn.Parameter)


def test_a_torch_save_state_dict_loads_through_it(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
    state = model.state_dict()
    view = torch.arange(12.0).reshape(3, 4)[1:, ::2]  # a view: offset and strides
    checkpoint = {
        "state_dict": state,
        "half": torch.ones(2, dtype=torch.float16),
        "view": view,
        "step": 7,
        "p": torch.nn.Parameter(torch.ones(2)),
    }
    torch.save(checkpoint, tmp_path / "model.pt")
    loaded = restricted_load(tmp_path / "model.pt")
    assert list(loaded["state_dict"]) == list(state)
    for key, tensor in state.items():
        assert torch.equal(loaded["state_dict"][key], tensor) and key
    assert loaded["half"].dtype == torch.float16 and torch.equal(loaded["view"], view)
    assert loaded["step"] == 7 and isinstance(loaded["p"], torch.nn.Parameter)
    with (tmp_path / "model.pt").open("rb") as stream:  # an open file works too
        assert torch.equal(restricted_load(stream)["view"], view)


def test_a_torch_save_file_with_a_foreign_object_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    torch.save({"w": torch.zeros(2), "evil": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UnsafePickleError, match=r"evil\.pt.*\.system"):
        restricted_load(tmp_path / "evil.pt")
    assert not marker.exists()


def _never_called(meta: dict[str, Any]) -> Any:
    """Stands for EDM's real rebuild function, which ``exec``s the record's module source."""
    raise AssertionError("the real reconstruct function must not run")


@pytest.fixture
def edm_like_snapshot(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A pickle laid out as EDM's snapshots are: persistence records around torch modules.

    Each persistent object pickles as a call of ``torch_utils.persistence.
    _reconstruct_persistent_obj(meta)`` (a stand-in module of that name exists only while
    pickling); ``meta`` holds the module source, the class name and the instance state.
    """
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _never_called  # type: ignore[attr-defined]
    monkeypatch.setattr(_never_called, "__module__", "torch_utils.persistence")
    monkeypatch.setattr(_never_called, "__qualname__", "_reconstruct_persistent_obj")
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", persistence)

    class Persistent:
        def __init__(self, meta: dict[str, Any]) -> None:
            self.meta = meta

        def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
            return _never_called, (self.meta,)

    linear = torch.nn.Linear(2, 2)
    state = {
        "_parameters": {"weight": linear.weight, "bias": None},
        "_buffers": {"scale": torch.full((2,), 0.5)},
        "_modules": {"inner": torch.nn.ModuleDict()},
        "skip_scale": np.sqrt(np.float64(0.5)),
        "_init_kwargs": {"channels": 2},
    }
    meta = {"type": "class", "version": 6, "module_src": "raise SystemExit", "state": state}
    snapshot = {"ema": Persistent({**meta, "class_name": "VPPrecond"}), "dataset_kwargs": {}}
    return pickle.dumps(snapshot, protocol=4)


def test_edm_style_persistence_records_go_to_the_callers_rebuild_function(
    edm_like_snapshot: bytes,
) -> None:
    seen: list[dict[str, Any]] = []

    def rebuild(meta: dict[str, Any]) -> dict[str, Any]:
        if meta.get("type") != "class" or meta.get("version") != 6:
            raise Refusal(f"a persistence record of version {meta.get('version')}")
        seen.append(meta)
        return {"class_name": meta["class_name"], "state": meta["state"]}

    allow = {
        PERSISTENCE: rebuild,
        MODULE_DICT: stand_in(MODULE_DICT),
        **numpy_scalar_globals(),
    }
    loaded = restricted_load(io.BytesIO(edm_like_snapshot), allow)
    ema = loaded["ema"]
    assert ema["class_name"] == "VPPrecond" and [m["class_name"] for m in seen] == ["VPPrecond"]
    assert isinstance(ema["state"]["_parameters"]["weight"], torch.nn.Parameter)
    torch.testing.assert_close(ema["state"]["_buffers"]["scale"], torch.full((2,), 0.5))
    assert ema["state"]["skip_scale"] == np.sqrt(0.5)
    assert isinstance(ema["state"]["_modules"]["inner"], StandIn)


def test_without_a_rebuild_function_a_persistence_record_is_refused(
    edm_like_snapshot: bytes,
) -> None:
    with pytest.raises(UnsafePickleError, match=PERSISTENCE.replace(".", r"\.")):
        restricted_load(io.BytesIO(edm_like_snapshot), numpy_scalar_globals())


def test_a_refusal_from_an_allow_listed_function_is_one_line(edm_like_snapshot: bytes) -> None:
    def rebuild(meta: dict[str, Any]) -> Any:
        raise Refusal("a persistence record of version 5")

    allow = {PERSISTENCE: rebuild, MODULE_DICT: stand_in(MODULE_DICT), **numpy_scalar_globals()}
    with pytest.raises(UnsafePickleError, match="version 5") as caught:
        restricted_load(io.BytesIO(edm_like_snapshot), allow)
    assert "<stream>" in str(caught.value) and "\n" not in str(caught.value)


def test_numpy_object_dtypes_are_refused() -> None:
    data = pickle.dumps(np.array([None], dtype=object)[0:1].dtype, protocol=4)
    with pytest.raises(UnsafePickleError, match="holds Python objects"):
        restricted_load(io.BytesIO(data), numpy_scalar_globals())


class HookedTensor:
    """Pickles as ``_rebuild_tensor_v2`` with a backward hook (torch itself drops hooks)."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """A crafted rebuild call: a real storage, then a hook that would run at backward."""
        untyped = torch.zeros(2).untyped_storage()
        storage = torch.storage.TypedStorage(
            wrap_storage=untyped, dtype=torch.float32, _internal=True
        )
        hooks = OrderedDict(hook=print)
        return torch._utils._rebuild_tensor_v2, (storage, 0, (2,), (1,), True, hooks)


def test_tensors_with_backward_hooks_are_refused() -> None:
    data = pickle.dumps({"t": HookedTensor()}, protocol=4)
    with pytest.raises(UnsafePickleError, match="backward hooks"):
        restricted_load(io.BytesIO(data), {"builtins.print": print})


def test_persistent_ids_without_a_loader_are_refused() -> None:
    class WithIds(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return "id-1" if obj == "external" else None

    buffer = io.BytesIO()
    WithIds(buffer, protocol=4).dump(["external"])
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        restricted_load(io.BytesIO(buffer.getvalue()))
    assert restricted_load(io.BytesIO(buffer.getvalue()), persistent_load=str.upper) == ["ID-1"]


@pytest.mark.parametrize(
    "content", [b"", b"\x80\x04garbage", b"PK\x03\x04not a zip at all"], ids=["empty", "bad", "zip"]
)
def test_a_corrupt_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(I2IError) as caught:
        restricted_load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert not isinstance(caught.value, UnsafePickleError)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(I2IError, match="does not exist"):
        restricted_load(tmp_path / "absent.pkl")


def test_a_legacy_torch_file_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(I2IError, match="legacy"):
        restricted_load(path)


class StorageBytes:
    """Pickles as EDM's snapshots hold a storage: ``torch.storage._load_from_bytes(raw)``."""

    def __init__(self, raw: bytes) -> None:
        """The legacy torch.save stream of one storage."""
        self.raw = raw

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """The call EDM's pickles contain (torch's own storage ``__reduce__``)."""
        return torch.storage._load_from_bytes, (self.raw,)


class TensorOver:
    """Pickles as a tensor over ``StorageBytes``: ``_rebuild_tensor_v2(storage, ...)``."""

    def __init__(self, raw: bytes, numel: int) -> None:
        """A 1-D tensor of ``numel`` values over the storage stream ``raw``."""
        self.raw, self.numel = raw, numel

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """The rebuild call of a contiguous 1-D tensor without hooks."""
        rebuild = torch._utils._rebuild_tensor_v2
        return rebuild, (StorageBytes(self.raw), 0, (self.numel,), (1,), False, OrderedDict())


def test_the_golden_edm_storage_bytes_load_as_the_recorded_tensor(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "edm_pickle_layout.pt", weights_only=False)["outputs"]
    raw = bytes(golden["tensor_storage_example"].tolist())
    expected = golden["tensor_storage_example_value"]
    loaded = restricted_load(io.BytesIO(pickle.dumps(TensorOver(raw, expected.numel()))))
    assert torch.equal(loaded, expected)


def test_the_core_covers_every_tensor_global_of_an_edm_snapshot(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "edm_pickle_layout.pt", weights_only=False)["outputs"]
    callers_own = {PERSISTENCE, MODULE_DICT, *numpy_scalar_globals()}
    assert set(golden["globals_in_order"]) - callers_own <= set(tensor_globals())
