"""2-D points: DDIB's synthetic data sets, their distances and support scores, scatter plots.

What every method on points shares (DDIB's translations, DG's guided samples, the benchmarks):
``synthetic_data`` draws the six data sets exactly as the reference does, ``metrics`` holds the
sliced Wasserstein distance and nearest-neighbour distances, ``support`` scores samples'
precision and coverage against their data set, ``plots`` draws scatter figures and ``files``
reads and writes point arrays. It imports only numpy, PIL and (inside functions) torch.
"""
