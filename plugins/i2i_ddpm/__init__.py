"""DDPM backbone: the ermongroup/ddim UNet behind EGSDE's celebahq_female_ddpm.pth."""
