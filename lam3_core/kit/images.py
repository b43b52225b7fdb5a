"""Opening images with one clear error naming the file, converted to RGB."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lam3_core.interfaces.errors import UsageError


def image_key(ref: Any) -> Any:
    """What identifies an image of a sample: its path, or the in-memory object itself."""
    return ("path", os.fspath(ref)) if isinstance(ref, (str, os.PathLike)) else ("object", id(ref))


def load_image(ref: Any):
    """A PIL RGB image from a path or an in-memory PIL image (any mode: L, RGBA, P, ...)."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(ref, Image.Image):
        return ref if ref.mode == "RGB" else ref.convert("RGB")
    path = Path(ref)
    if not path.is_file():
        raise UsageError(f"Image not found: {path}.", "Check the image path or column in the dataset.")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UsageError(f"Image {path} cannot be read ({exc}).", "Replace or remove the corrupt image.") from exc


def check_image(ref: Any) -> None:
    """Raise ``UsageError`` if ``ref`` is not a readable image; cheap enough to run before generation."""
    load_image(ref)
