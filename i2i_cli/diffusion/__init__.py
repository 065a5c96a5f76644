"""Discrete diffusion numerics shared by every method: schedules, respacing, steps, denoisers."""
