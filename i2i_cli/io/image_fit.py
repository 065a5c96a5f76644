"""Bringing an image to ``size x size`` as each reference data pipeline does (the Fit choices).

Every function works on a PIL image and returns a new one: 8-bit RGB images are resampled by
Pillow as the references' torchvision / guided-diffusion transforms do, F (float) images keep
their precision.
"""

from __future__ import annotations

from typing import Literal

from PIL import Image

from i2i_cli.base.errors import UsageError

Fit = Literal["crop", "adm-crop", "stretch"]
"""How an image is brought to ``size x size``:

* ``crop``: shorter side to ``size`` (PIL bicubic, antialiased), then a centre crop: torchvision
  ``Resize(size, BICUBIC)`` + ``CenterCrop(size)`` on a PIL image (EGSDE, spec egsde.md §1.3).
* ``adm-crop``: guided-diffusion's ``center_crop_arr``: BOX-halve while the shorter side is at
  least ``2 * size``, bicubic to shorter side ``size`` (sides rounded), floor-offset centre crop
  (DDIB, ILVR, SDDM).
* ``stretch``: both sides to ``size`` with bilinear antialiased resampling, aspect ratio not
  kept: torchvision v2 ``Resize((size, size))`` on a PIL image (SDE-BBDM, spec bbdm.md §9).
"""
FITS: tuple[Fit, ...] = ("crop", "adm-crop", "stretch")


def check_fit(fit: str) -> None:
    """UsageError unless ``fit`` is one of FITS."""
    if fit not in FITS:
        raise UsageError(f"unknown image fit {fit!r}; expected one of {', '.join(FITS)}")


def fit_to_size(image: Image.Image, size: int, fit: Fit) -> Image.Image:
    """``image`` brought to ``size x size`` as the Fit ``fit`` describes."""
    if fit == "stretch":
        return image.resize((size, size), Image.Resampling.BILINEAR)
    if fit == "adm-crop":
        return adm_centre_crop(image, size)
    return centre_crop(resize_shorter_side(image, size), size)


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size``, longer ``int(size * long / short)``, as torchvision Resize(int)."""
    width, height = image.size
    if width <= height:
        new_size = (size, int(size * height / width))
    else:
        new_size = (int(size * width / height), size)
    return image.resize(new_size, Image.Resampling.BICUBIC)


def centre_crop(image: Image.Image, size: int) -> Image.Image:
    """The central ``size x size`` window, offsets rounded as torchvision CenterCrop rounds."""
    width, height = image.size
    top = round((height - size) / 2.0)  # Python's round: ties to even, as torchvision
    left = round((width - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def adm_centre_crop(image: Image.Image, size: int) -> Image.Image:
    """guided-diffusion ``center_crop_arr``: BOX halvings, bicubic, floor-offset centre crop."""
    while min(image.size) >= 2 * size:
        image = image.resize(tuple(side // 2 for side in image.size), Image.Resampling.BOX)
    scale = size / min(image.size)
    image = image.resize(
        tuple(round(side * scale) for side in image.size), Image.Resampling.BICUBIC
    )
    top = (image.height - size) // 2
    left = (image.width - size) // 2
    return image.crop((left, top, left + size, top + size))
