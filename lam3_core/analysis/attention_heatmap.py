"""An attention map drawn over the image as the model saw it: Pillow and numpy only.

The image is first turned into the model's view (``view``, recorded by the model: resize the shortest
edge then centre-crop, as CLIP does for LLaVA, or resize to a fixed size), so each cell of the patch
grid covers the pixels its patch token was made from. The grid is scaled to [0, 1] by its maximum,
upsampled bilinearly to the view's size and blended in: a pixel takes ``alpha * value`` of the colour
map ("hot": black, red, yellow, white), so cold regions show the image unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lam3_core.interfaces.errors import UsageError

ALPHA = 0.6
_HOT = np.array([[0, 0, 0], [230, 0, 0], [255, 210, 0], [255, 255, 255]], dtype=np.float32)


def model_view(image, view: dict):
    """``image`` (PIL RGB) as the model's processor showed it."""
    from PIL import Image

    if "resize" in view:
        height, width = view["resize"]
        return image.resize((width, height), Image.Resampling.BICUBIC)
    edge, (height, width) = view["shortest_edge"], view["crop"]
    short, long = sorted(image.size)
    size = (edge, int(edge * long / short)) if image.width <= image.height else (int(edge * long / short), edge)
    resized = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def hot_colours(values: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) float colours along the "hot" map."""
    position = np.clip(values, 0.0, 1.0) * (len(_HOT) - 1)
    low = np.minimum(position.astype(int), len(_HOT) - 2)
    fraction = (position - low)[..., None]
    return _HOT[low] * (1 - fraction) + _HOT[low + 1] * fraction


def overlay(image, grid: Sequence[float], shape: Sequence[int], view: dict | None, alpha: float = ALPHA):
    """A PIL image: ``grid`` (row-major, ``shape`` = [rows, columns]) over ``image`` in the model's view."""
    from PIL import Image

    rows, columns = shape
    values = np.asarray(grid, dtype=np.float32)
    if values.size != rows * columns:
        raise UsageError(f"An attention map of {values.size} values does not fill a {rows}x{columns} grid.",
                         "The record was not written by lam3; generate it again with --gen trace_attentions=true.")
    if view is None:
        raise UsageError("The record does not say how the model resized and cropped its image.",
                         "Generate it again with a model that records its image view (llava15).")
    shown = model_view(image.convert("RGB"), view)
    peak = float(values.max())
    scaled = values.reshape(rows, columns) / peak if peak > 0 else np.zeros((rows, columns), dtype=np.float32)
    heat = np.asarray(Image.fromarray(scaled).resize(shown.size, Image.Resampling.BILINEAR), dtype=np.float32)
    weight = alpha * np.clip(heat, 0.0, 1.0)[..., None]
    pixels = np.asarray(shown, dtype=np.float32) * (1 - weight) + hot_colours(heat) * weight
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
