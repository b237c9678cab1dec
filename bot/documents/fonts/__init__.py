"""The bundled TTF fonts (PT Sans, see README.txt and LICENSE.txt here).

A package of its own so that the `*.ttf` and `*.txt` package-data globs of pyproject.toml
ship the fonts and their licence inside a wheel too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["BOLD", "FONTS_DIR", "REGULAR"]

FONTS_DIR: Final = Path(__file__).resolve().parent
REGULAR: Final = FONTS_DIR / "PTSans-Regular.ttf"
BOLD: Final = FONTS_DIR / "PTSans-Bold.ttf"
