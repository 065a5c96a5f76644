"""DDIB (Su et al., ICLR 2023): dual diffusion implicit bridges, its 2-D data sets and 2-D model."""
