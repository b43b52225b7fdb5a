"""Text rendered black on white for the typographic attacks, with fonts that ship with the plugin.

Two fonts are bundled (DejaVu, under the Bitstream Vera licence in ``fonts/LICENSE_DEJAVU``), so
rendering never depends on the machine's fonts: DejaVu Sans Mono Bold stands in for the
FreeMonoBold of FigStep's renderer, DejaVu Sans for the Arial of MM-SafetyBench's. ``font=PATH``
uses any other TrueType/OpenType file. The same text, font and layout always give the same pixels
(for one Pillow and FreeType build).

Two ways to break lines, one per benchmark: by characters (FigStep wraps its statement at 15
characters with ``textwrap``) and by pixel width (MM-SafetyBench adds words to a line while it
fits the canvas). Text that does not fit its canvas is never cut: with ``fit=shrink`` the font
gets smaller until it fits (the size used is recorded), with ``fit=error`` the sample is refused.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lam3_core import Attack, Sample, UsageError
from lam3_core.kit.arguments import check_choice, check_number

MONO_BOLD = "DejaVuSansMono-Bold.ttf"
SANS = "DejaVuSans.ttf"
FIT_MODES = ("shrink", "error")
SMALLEST_FONT_SIZE = 8
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def bundled_font(name: str) -> Path:
    return Path(str(resources.files("lam3_attacks_visual").joinpath("fonts", name)))


@lru_cache(maxsize=64)
def _truetype(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class Typeface:
    """A font file, checked once, and the sizes drawn from it."""

    path: Path

    @classmethod
    def choose(cls, owner: str, font: str | None, bundled: str) -> Typeface:
        """``font`` (a usage error naming ``owner.font`` when missing or unreadable), else the bundled ``bundled``."""
        path = bundled_font(bundled) if font is None else Path(font).expanduser()
        fix = f"Pass {owner}.font=PATH to a TrueType or OpenType file, or leave it out to use the bundled {bundled}."
        if not path.is_file():
            raise UsageError(f"The font file {path} does not exist.", fix)
        try:
            _truetype(str(path), 12)
        except OSError as exc:
            raise UsageError(f"The font file {path} cannot be read as a font ({exc}).", fix) from exc
        return cls(path)

    def at(self, size: int):
        return _truetype(str(self.path), size)

    def digest(self) -> str:
        """A hash of the font file's bytes: the same name can hold other glyphs."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


def check_layout(owner: str, fit: str, sizes: dict[str, int], offsets: dict[str, int] | None = None) -> None:
    """Usage errors for a bad ``fit``, a size that is not a positive integer or an offset that is negative."""
    check_choice(owner, "fit", fit, FIT_MODES)
    for name, value in sizes.items():
        check_number(owner, name, value, positive=True, integer=True)
    for name, value in (offsets or {}).items():
        check_number(owner, name, value, integer=True)


def wrap_chars(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken at spaces where possible (``textwrap.wrap``)."""
    return textwrap.wrap(text, width=width) or [""]


def wrap_pixels(text: str, font, width: int) -> list[str]:
    """Words added to a line while it stays narrower than ``width`` pixels; a longer word gets a line of its own."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") < width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def text_box(lines: list[str], font, spacing: int) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) pixels the lines cover when drawn at (0, 0)."""
    from PIL import Image, ImageDraw

    return ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox((0, 0), "\n".join(lines), font=font,
                                                                         spacing=spacing)


def draw_lines(canvas, xy: tuple[float, float], lines: list[str], font, spacing: int) -> None:
    from PIL import ImageDraw

    ImageDraw.Draw(canvas).multiline_text(xy, "\n".join(lines), fill=BLACK, font=font, spacing=spacing)


def fitting_size(largest: int, fits: Callable[[int], bool], fit: str) -> int | None:
    """``largest`` if the text fits at that size; with ``fit=shrink`` the largest smaller size that fits; else None."""
    if fits(largest):
        return largest
    if fit == "shrink":
        for size in range(largest - 1, SMALLEST_FONT_SIZE - 1, -1):
            if fits(size):
                return size
    return None


def blank(width: int, height: int):
    from PIL import Image

    return Image.new("RGB", (width, height), WHITE)


class TypographicAttack(Attack):
    """An attack that puts text in the image: rendered with ``typeface`` (whose digest is part of the attack's
    identity, so a changed font is a new attack), or the dataset's pre-rendered image. Each sample on its own."""

    typeface: Typeface

    def config(self) -> dict:
        return {"font_sha256": self.typeface.digest()}

    def apply(self, samples, model=None):
        return [self._attacked(sample) for sample in samples]

    def _attacked(self, sample: Sample) -> Sample:
        raise NotImplementedError


def prerendered_image(sample: Sample, path: object, what: str, where: str, load_fix: str, folder_fix: str) -> str:
    """The dataset's pre-rendered ``what`` for ``sample`` (``path``, read from ``where`` in its meta), refused when
    the dataset gave none (``load_fix``) or the file is not there (``folder_fix``)."""
    if not path:
        raise UsageError(f"Sample {sample.id!r} has no pre-rendered {what} ({where}).", load_fix)
    if not Path(str(path)).is_file():
        raise UsageError(f"Sample {sample.id!r}: the pre-rendered {what} {path} does not exist.", folder_fix)
    return str(path)
