"""i2i: diffusion-based image-to-image translation behind one command-line tool."""

__version__ = "0.1.0"
