"""ADM backbones: the guided-diffusion UNet and encoder classifier, official checkpoint keys."""
