"""Samples that go non-finite: caught per item where it happens, and never written as images.

Samplers are pure functions, so the watch sits around what they call: a forward hook on each
network the run loads (``watch_network``), an identity in the autograd graph of each energy
(``watch_energy``) whose backward sees that energy's weighted gradient, the pipeline's step
callback (the sampler's state after each step) and the batch's result (``finish``). Each records,
on the device and per item, the first step at which it saw a NaN or an infinity; nothing is read
back before the batch ends, so a step costs a few elementwise kernels and no host sync. At one
step, what was computed first (the network, then the guidance, then the state) is the culprit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from i2i_cli.base.errors import RunError

if TYPE_CHECKING:
    from i2i_cli.diffusion.guidance import EnergyFunction
    from i2i_cli.io.data import ImageItem
    from i2i_cli.run.progress import StepCallback
    from i2i_cli.run.runtime import Runtime

STATE = "the sampler's state"
RESULT = "the result"
FAILED_KEY = "failed"
"""The key of ``result.json`` that lists the items that went non-finite."""


@dataclass(frozen=True)
class NonFinite:
    """One item that went non-finite: its key and source, the first such step and what."""

    key: str
    path: str
    step: int
    """The 0-based sampler step, ``steps`` or more for what came after the last one."""
    steps: int | None
    """The sampler's step count (None: it reported no steps)."""
    what: str
    """``the output of network edm``, ``the guidance gradient of energy lowpass``, ..."""

    def where(self) -> str:
        """``at step 3 of 18`` (1-based), or ``after the last step (18)``."""
        if self.steps is None:
            return "in the sampler"
        if self.step >= self.steps:
            return f"after the last step ({self.steps})"
        return f"at step {self.step + 1} of {self.steps}"

    def line(self) -> str:
        """What went non-finite and where, e.g. ``the output of network edm ... at step 1 of 6``."""
        return f"{self.what} went non-finite (NaN or infinity) {self.where()}"

    def record(self) -> dict[str, Any]:
        """The item's entry in ``result.json`` (``step`` 1-based, as the line says it)."""
        return {
            "item": self.key,
            "path": self.path,
            "step": self.step + 1,
            "steps": self.steps,
            "non_finite": self.what,
        }


class NonFiniteError(RunError):
    """A run some of whose items went non-finite: they were not written, the others were."""

    def __init__(self, failures: Sequence[NonFinite], written: int, result: Path) -> None:
        first = failures[0]
        more = f"; and {len(failures) - 1} more" if len(failures) > 1 else ""
        total = len(failures) + written
        super().__init__(
            f"{len(failures)} of {total} images went non-finite and were not written "
            f"({first.key}: {first.line()}{more}); each is listed in {result}"
        )


def bad_rows(value: torch.Tensor, rows: int) -> torch.Tensor:
    """Per item of a batch of ``rows``, whether ``value`` holds a NaN or an infinity for it.

    A value of ``k * rows`` rows (a network called on ``[x; x]``) gives row ``j`` to item
    ``j mod rows``; any other shape counts against every item.
    """
    finite = torch.isfinite(value.detach())
    count = finite.shape[0] if finite.dim() else 0
    if count and finite.numel() and count % rows == 0:
        return ~finite.reshape(count // rows, rows, -1).all(2).all(0)
    return (~finite.all()).expand(rows)


def _tensors(output: Any) -> Iterator[torch.Tensor]:
    """The tensors of a network's output: itself, or those in a tuple, list or dict."""
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, list | tuple):
        for part in output:
            yield from _tensors(part)
    elif isinstance(output, Mapping):
        for part in output.values():
            yield from _tensors(part)


class _GradientProbe(torch.autograd.Function):
    """The identity, whose backward hands the gradient passing through it to a probe."""

    @staticmethod
    def forward(context: Any, y: torch.Tensor, probe: Callable[[torch.Tensor], None]) -> Any:
        context.probe = probe
        return y.view_as(y)

    @staticmethod
    def backward(context: Any, gradient: torch.Tensor) -> Any:
        context.probe(gradient)
        return gradient, None


@dataclass
class _Batch:
    """The batch being watched: its items, the current step and, per culprit, each item's first
    non-finite step (-1: none yet), in the order the culprits were first computed."""

    items: Sequence[ImageItem]
    step: int = 0
    steps: int | None = None
    first: dict[str, torch.Tensor] = field(default_factory=dict)


class FiniteWatch:
    """Watches the batches of one run for NaN and infinity; ``failures`` are this rank's items."""

    def __init__(self) -> None:
        self._batch: _Batch | None = None
        self.failures: list[NonFinite] = []

    def start(self, items: Sequence[ImageItem], callback: StepCallback) -> StepCallback:
        """Watch a new batch of ``items``; the step callback its sampler gets instead of
        ``callback``: it checks the state ``info["x"]`` of step ``info["i"]``, then calls on."""
        batch = self._batch = _Batch(items)

        def check_state(info: Mapping[str, Any]) -> None:
            batch.step = int(info["i"])
            batch.steps = info.get("total", batch.steps)
            state = info.get("x")
            if isinstance(state, torch.Tensor):
                self._see(batch, STATE, state)
            batch.step += 1
            callback(info)

        return check_state

    def see(self, what: str, value: torch.Tensor) -> None:
        """Record ``what`` (``value``) as non-finite at the current step for the items it is."""
        if self._batch is not None:
            self._see(self._batch, what, value)

    def _see(self, batch: _Batch, what: str, value: torch.Tensor) -> None:
        """Mark ``batch``'s items that ``value`` is non-finite for at its step, unless marked."""
        bad = bad_rows(value, len(batch.items))
        first = batch.first.get(what)
        if first is None:
            first = torch.full(bad.shape, -1, dtype=torch.long, device=bad.device)
            batch.first[what] = first
        first.masked_fill_(bad.to(first.device) & (first < 0), batch.step)

    def finish(self, result: torch.Tensor) -> list[NonFinite | None]:
        """Check the batch's ``result`` and end the batch: per item, how it went non-finite
        (None: it did not); those that did are added to ``failures``. One read from the device."""
        batch, self._batch = self._batch, None
        if batch is None:
            raise RuntimeError("FiniteWatch.finish without start")
        self._see(batch, RESULT, result)
        culprits = list(batch.first)
        device = batch.first[culprits[0]].device
        steps = torch.stack([batch.first[c].to(device) for c in culprits], 1).tolist()
        found: list[NonFinite | None] = []
        for item, row in zip(batch.items, steps, strict=True):
            seen = [(step, order) for order, step in enumerate(row) if step >= 0]
            if not seen:
                found.append(None)
                continue
            step, order = min(seen)
            failure = NonFinite(item.key, str(item.path), step, batch.steps, culprits[order])
            self.failures.append(failure)
            found.append(failure)
        return found

    def watch_network(self, module: nn.Module, name: str) -> None:
        """Check every output of ``module`` (a forward hook) while a batch is watched."""
        what = f"the output of network {name}"

        def check_output(module: nn.Module, inputs: Any, output: Any) -> None:
            if self._batch is not None:
                for tensor in _tensors(output):
                    self._see(self._batch, what, tensor)

        module.register_forward_hook(check_output)

    def watch_energy(self, name: str, function: EnergyFunction) -> EnergyFunction:
        """``function`` whose gradient (as weighted where it is taken) is checked in backward."""
        what = f"the guidance gradient of energy {name}"

        def probe(gradient: torch.Tensor) -> None:
            self.see(what, gradient)

        def watched(y: torch.Tensor, state: Any) -> torch.Tensor:
            if self._batch is None or not y.requires_grad:
                return function(y, state)
            return function(_GradientProbe.apply(y, probe), state)

        return watched

    def gathered(self, runtime: Runtime, written: int) -> tuple[list[NonFinite], int]:
        """Every rank's failures (in rank order) and the images every rank wrote."""
        parts = runtime.all_gather_objects((self.failures, written))
        return [f for failures, _ in parts for f in failures], sum(n for _, n in parts)


def result_with_failures(
    previous: Mapping[str, Any] | None,
    result: Mapping[str, Any] | None,
    failures: Sequence[NonFinite],
) -> dict[str, Any] | None:
    """What ``result.json`` holds after a run (None: nothing to write).

    The run's ``result`` (else what ``previous``, the file's content, held), with the list of
    its ``failures`` when it has some or when an earlier run listed some (then emptied).
    """
    listed = previous is not None and FAILED_KEY in previous
    if not failures and not listed:
        return None if result is None else dict(result)
    kept = result if result is not None else previous or {}
    return {**kept, FAILED_KEY: [failure.record() for failure in failures]}
