"""QR images of payment payloads, as banking apps expect them (DOMAIN.md §5).

The payload goes in as one 8-bit (byte mode) segment holding exactly the bytes it
was given.  qrcode would otherwise UTF-8-encode text (wrong for windows-1251) and,
by default, split digit runs into numeric-mode segments.  Those are smaller, but
decoders built on ZXing report only the byte-mode segments as raw bytes and guess
a character set per segment, which garbles windows-1251 text; a single byte
segment is what receipt generators in the wild produce and what scanners read.
"""

from __future__ import annotations

import io
import math
from typing import Final

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError
from qrcode.util import MODE_8BIT_BYTE, QRData

__all__ = [
    "MIN_SIDE_PX",
    "QUIET_ZONE_MODULES",
    "qr_version",
    "render_qr_image",
    "render_qr_png",
]

# ISO/IEC 18004 requires a quiet zone of at least four modules.
QUIET_ZONE_MODULES: Final = 4
# Large enough for a phone camera to resolve every module when the picture is
# shown on another phone's screen or printed.
MIN_SIDE_PX: Final = 600


def _make_code(payload: bytes, border: int) -> qrcode.QRCode:
    if not isinstance(payload, bytes):
        # A str would be UTF-8-encoded by qrcode, silently breaking ST00011 payloads.
        raise TypeError("the payload must be bytes already encoded as its header says")
    if not payload:
        raise ValueError("empty payload")
    if border < QUIET_ZONE_MODULES:
        raise ValueError(f"the quiet zone must be at least {QUIET_ZONE_MODULES} modules")
    code = qrcode.QRCode(version=None, error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(QRData(payload, mode=MODE_8BIT_BYTE))
    try:
        code.make(fit=True)
    # Past version 40 qrcode fails either way, depending on where it notices.
    except (DataOverflowError, ValueError) as exc:
        raise ValueError(f"{len(payload)} bytes do not fit in a QR code at level M") from exc
    return code


def qr_version(payload: bytes) -> int:
    """The QR version (1-40) that `payload` needs at error-correction level M."""
    return int(_make_code(payload, QUIET_ZONE_MODULES).version)


def render_qr_image(
    payload: bytes, *, box_size: int = 8, border: int = QUIET_ZONE_MODULES
) -> Image.Image:
    """A black-on-white greyscale image of the QR code of `payload`.

    `box_size` is the minimum number of pixels per module; it grows so that the
    side is at least MIN_SIDE_PX.  `border` is the quiet zone in modules (≥ 4).
    """
    if box_size < 1:
        raise ValueError("box_size must be positive")
    code = _make_code(payload, border)
    matrix: list[list[bool]] = code.get_matrix()  # includes the quiet zone
    modules = len(matrix)
    scale = max(box_size, math.ceil(MIN_SIDE_PX / modules))
    image = Image.new("L", (modules, modules))
    image.putdata([0 if dark else 255 for row in matrix for dark in row])
    # Nearest neighbour keeps module edges sharp, with no grey pixels to binarise.
    return image.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)


def render_qr_png(payload: bytes, *, box_size: int = 8, border: int = QUIET_ZONE_MODULES) -> bytes:
    """The QR code of `payload` as PNG bytes; see render_qr_image."""
    buffer = io.BytesIO()
    render_qr_image(payload, box_size=box_size, border=border).save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()
