"""The ``diffusion`` method: plain DDPM/DDIM sampling from any discrete-time backbone."""
