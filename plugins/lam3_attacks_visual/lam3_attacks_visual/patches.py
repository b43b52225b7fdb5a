"""Which patches of an image PGD may change: the highest-scoring cells of the vision encoder's patch grid.

A patch is a ``patch`` x ``patch`` pixel square of the image at the processed resolution, on the
grid the vision encoder cuts it into (LLaVA-1.5: 24 x 24 patches of 14 pixels at 336 pixels).
Scores come from the model's attention from the prompt to each patch (``mask=attention``) or from
the magnitude of the loss's gradient summed over each patch's pixels (``mask=saliency``).
"""

from __future__ import annotations

import torch


def gradient_scores(gradient: torch.Tensor, patch: int) -> torch.Tensor:
    """Per patch (rows, cols), the sum of ``|gradient|`` over its pixels and channels; ``gradient`` is (3, H, W).

    An edge that the grid does not divide evenly gets a last, smaller row or column of patches.
    """
    magnitude = gradient.abs().sum(dim=0)
    height, width = magnitude.shape
    rows, cols = -(-height // patch), -(-width // patch)
    padded = torch.nn.functional.pad(magnitude, (0, cols * patch - width, 0, rows * patch - height))
    return padded.reshape(rows, patch, cols, patch).sum(dim=(1, 3))


def top_patches(scores: torch.Tensor, count: int) -> list[int]:
    """The flat indices (row * cols + col) of the ``count`` highest scores, in increasing index order."""
    order = torch.argsort(scores.flatten().float().cpu(), descending=True, stable=True)
    return sorted(order[:count].tolist())


def patch_mask(indices: list[int], grid: tuple[int, int], patch: int, size: tuple[int, int]) -> torch.Tensor:
    """A (H, W) float mask: 1 on the pixels of the patches ``indices`` of a ``grid`` (rows, cols), 0 elsewhere."""
    rows, cols = grid
    cells = torch.zeros(rows * cols)
    cells[indices] = 1.0
    pixels = cells.reshape(rows, cols).repeat_interleave(patch, dim=0).repeat_interleave(patch, dim=1)
    height, width = size
    mask = torch.zeros(height, width)
    mask[: min(height, pixels.shape[0]), : min(width, pixels.shape[1])] = pixels[:height, :width]
    return mask
