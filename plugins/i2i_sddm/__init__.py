"""SDDM: score-decomposed diffusion on block-AdaIN manifolds (Sun et al., ICML 2023)."""
