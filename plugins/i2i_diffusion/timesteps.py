"""How training draws t: uniformly, or by the loss-aware second-moment importance sampler.

Both return ``(t, weights)``: the timesteps of a batch and the weights that keep the weighted
loss an unbiased estimate of the uniform-t objective, ``weights = 1 / (T p_t)``. The loss-aware
sampler (Nichol & Dhariwal 2021, §3.3, eq. 18) draws ``p_t ∝ sqrt(E[L_t^2])`` over the last 10
losses seen at each t, mixed with 0.001 of the uniform distribution, once every t has 10; until
then it draws uniformly. Its history is module buffers, so the training checkpoint carries it
and a resumed run draws what an uninterrupted run would have.

The losses of step k are only *remembered* by the loss (``remember``: every rank's, in rank
order; the last call of a step wins, so a probe of the step, such as the core loop's memory
check, leaves no trace) and added to the history at the start of step k + 1 (``apply_pending``),
before its timesteps are drawn: the order of guided-diffusion's loop. The checkpoint after step
k holds them still pending, so a resumed run adds them exactly as an uninterrupted one.
"""

from __future__ import annotations

import torch
from torch import nn

HISTORY_PER_TERM = 10
UNIFORM_PROBABILITY = 0.001


def uniform_timesteps(
    count: int, steps: int, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``t ~ uniform{0, ..., T - 1}`` (int64) and unit weights."""
    t = torch.randint(0, steps, (count,), generator=generator, device=device)
    return t, torch.ones(count, device=device)


class LossSecondMomentSampler(nn.Module):
    """The loss-aware sampler: ``p_t ∝ sqrt(mean of the last 10 L_t^2)`` (Improved DDPM eq. 18)."""

    history: torch.Tensor
    counts: torch.Tensor
    pending_t: torch.Tensor
    pending_loss: torch.Tensor
    pending_count: torch.Tensor

    def __init__(self, steps: int, slots: int) -> None:
        """``steps`` timesteps T; room for ``slots`` pending losses (the items of one step)."""
        super().__init__()
        self.register_buffer("history", torch.zeros(steps, HISTORY_PER_TERM, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(steps, dtype=torch.int64))
        self.register_buffer("pending_t", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("pending_loss", torch.zeros(slots, dtype=torch.float64))
        self.register_buffer("pending_count", torch.zeros((), dtype=torch.int64))

    @property
    def steps(self) -> int:
        """The number T of timesteps."""
        return self.history.shape[0]

    def warmed_up(self) -> bool:
        """Whether every t has a full history."""
        return bool((self.counts == HISTORY_PER_TERM).all())

    def probabilities(self) -> torch.Tensor:
        """``p_t`` (float64, sums to 1): uniform until warmed up."""
        if not self.warmed_up():
            return torch.full((self.steps,), 1.0 / self.steps, dtype=torch.float64)
        weights = self.history.detach().cpu().pow(2).mean(dim=-1).sqrt()
        weights = weights / weights.sum() * (1 - UNIFORM_PROBABILITY)
        return weights + UNIFORM_PROBABILITY / self.steps

    def sample(
        self, count: int, generator: torch.Generator, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` timesteps drawn from ``p_t`` and their weights ``1 / (T p_t)``."""
        p = self.probabilities().to(device)
        t = torch.multinomial(p, count, replacement=True, generator=generator)
        weights = 1.0 / (self.steps * p[t])
        return t, weights.float()

    @torch.no_grad()
    def remember(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Keep this step's ``(t, loss)`` pairs for ``apply_pending`` (replacing earlier ones)."""
        count = len(t)
        self.pending_t[:count] = t
        self.pending_loss[:count] = losses.double()
        self.pending_count.fill_(count)

    @torch.no_grad()
    def apply_pending(self) -> None:
        """Add the remembered pairs of the last step to the history."""
        count = int(self.pending_count)
        if count:
            self.update(self.pending_t[:count], self.pending_loss[:count])
            self.pending_count.zero_()

    @torch.no_grad()
    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Append each ``(t, loss)`` to its t's history, dropping the oldest of a full one.

        Items are taken in order; under DDP pass every rank's items in rank order.
        """
        history, counts = self.history.cpu(), self.counts.cpu()
        for step, loss in zip(t.tolist(), losses.double().tolist(), strict=True):
            if counts[step] == HISTORY_PER_TERM:
                history[step, :-1] = history[step, 1:].clone()
                history[step, -1] = loss
            else:
                history[step, counts[step]] = loss
                counts[step] += 1
        self.history.copy_(history)
        self.counts.copy_(counts)
