"""A run of one command: the runtime (device, precision, ranks, threads), the run context
plugins receive, the batch pipeline, progress, memory, non-finite checks, the run lock, seeds
and seed-per-item sampling, the chosen backbone loaded for the run (``model_choice``) and the
settings mixins of sampling runs (``karras_choice``, ``run_settings``, ``seeds``).

It may import every layer below it (checkpoints, networks, weights, io, diffusion, api, base),
never the metrics, training, points or the CLI above it.
"""
