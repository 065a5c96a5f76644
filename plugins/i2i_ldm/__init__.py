"""LDM autoencoders (CompVis/latent-diffusion VQ-f4) as backbones."""
