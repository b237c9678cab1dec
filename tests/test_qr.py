import io
from dataclasses import replace
from decimal import Decimal

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from bot.payments.gost import (
    PayloadEncoding,
    PaymentOrder,
    encode_payload,
    kopecks_from_rubles,
    parse_payload,
)
from bot.payments.qr import MIN_SIDE_PX, qr_version, render_qr_image, render_qr_png
from bot.payments.requisites import PayeeRequisites

VLADIMIR = PayeeRequisites(
    name='ООО "Газпром межрегионгаз Владимир"',
    inn="3328415442",
    kpp="775050001",
    bic="041708602",
    bank_name="Владимирское отделение N8611 ПАО Сбербанк",
    settlement_account="40702810710020102692",
    correspondent_account="30101810000000000602",
)
SUM = Decimal("1956.85")


def receipt(encoding: PayloadEncoding) -> PaymentOrder:
    return PaymentOrder(
        payee=VLADIMIR,
        purpose="Оплата за газ, январь 2020 — «Газ»",
        sum_kopecks=kopecks_from_rubles(SUM),
        pers_acc="04067759",
        paym_period="0120",
        last_name="Иванов",
        first_name="Пётр",
        encoding=encoding,
    )


def decode_png(png: bytes) -> zxingcpp.Barcode:
    image = Image.open(io.BytesIO(png))
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    results = zxingcpp.read_barcodes(image, formats=formats)
    assert len(results) == 1
    return results[0]


def payload_of_size(size: int) -> bytes:
    """A realistic cp1251 receipt payload padded with Purpose text to exactly `size` bytes."""
    base = replace(receipt("cp1251"), purpose=None)
    padding = size - len(encode_payload(base)) - len("|Purpose=")
    # No space at the cut: the builder would strip it and miss the size by a byte.
    purpose = ("Оплата_за_газ_по_лицевому_счёту_04067759_" * 10)[:padding]
    data = encode_payload(replace(base, purpose=purpose))
    assert len(data) == size
    return data


@pytest.mark.parametrize(("encoding", "header"), [("cp1251", b"ST00011|"), ("utf-8", b"ST00012|")])
def test_decoder_reads_back_exactly_our_bytes(encoding: PayloadEncoding, header: bytes) -> None:
    payload = encode_payload(receipt(encoding))
    assert payload.startswith(header)

    barcode = decode_png(render_qr_png(payload))

    assert barcode.valid
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    assert barcode.bytes == payload
    assert barcode.ec_level == "M"
    fields = parse_payload(barcode.bytes)
    assert fields == parse_payload(payload)
    assert fields["Name"] == 'ООО "Газпром межрегионгаз Владимир"'
    assert fields["FirstName"] == "Пётр"
    assert fields["Sum"] == "195685"
    assert Decimal(fields["Sum"]) / 100 == SUM


def test_no_eci_designator_is_written() -> None:
    # "]Q1" means no ECI: the header digit alone tells the charset, as the standard wants.
    barcode = decode_png(render_qr_png(encode_payload(receipt("cp1251"))))
    assert barcode.symbology_identifier == "]Q1"


def test_str_payload_is_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        render_qr_png("ST00012|Name=x")  # type: ignore[arg-type]


@pytest.mark.parametrize("border", [0, 3])
def test_quiet_zone_cannot_shrink_below_four_modules(border: int) -> None:
    with pytest.raises(ValueError, match="quiet zone"):
        render_qr_png(b"ST00012|Name=x", border=border)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        render_qr_png(b"")
    with pytest.raises(ValueError, match="box_size"):
        render_qr_png(b"ST00012|Name=x", box_size=0)
    with pytest.raises(ValueError, match="do not fit"):
        render_qr_png(b"\xff" * 3000)


def test_image_is_large_black_on_white_with_a_quiet_zone() -> None:
    payload = encode_payload(receipt("cp1251"))
    png = render_qr_png(payload)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    width, height = image.size
    assert width == height >= MIN_SIDE_PX

    modules = 4 * qr_version(payload) + 17 + 2 * 4
    assert width % modules == 0
    scale = width // modules
    assert scale >= 8

    grey = image.convert("L")
    assert set(grey.tobytes()) == {0, 255}
    # The four-module quiet zone is white all round, the finder pattern corner is black.
    zone = 4 * scale
    for box in [
        (0, 0, width, zone),
        (0, 0, zone, height),
        (0, height - zone, width, height),
        (width - zone, 0, width, height),
    ]:
        assert set(grey.crop(box).tobytes()) == {255}
    assert grey.getpixel((zone, zone)) == 0


def test_small_codes_are_scaled_up_to_the_minimum_side() -> None:
    payload = b"ST00012|Name=x"
    assert qr_version(payload) == 1
    image = render_qr_image(payload)
    assert image.size[0] >= MIN_SIDE_PX
    assert image.size[0] < MIN_SIDE_PX + (21 + 8)
    assert decode_png(render_qr_png(payload)).bytes == payload


def test_a_larger_box_size_is_honoured() -> None:
    payload = encode_payload(receipt("cp1251"))
    modules = 4 * qr_version(payload) + 17 + 8
    assert render_qr_image(payload, box_size=20).size == (20 * modules, 20 * modules)
    assert render_qr_image(payload, border=6).size[0] % (modules + 4) == 0


def test_version_capacity_in_byte_mode() -> None:
    # Level M in byte mode holds 362 bytes in version 14 and 412 in version 15.
    assert qr_version(payload_of_size(362)) == 14
    assert qr_version(payload_of_size(363)) == 15


def test_373_byte_cp1251_payload() -> None:
    payload = payload_of_size(373)
    # DOMAIN.md §5 says version 14: that is what qrcode gives by default, packing the
    # digit runs into numeric-mode segments.  We keep one byte-mode segment (see
    # bot/payments/qr.py), which holds at most 362 bytes in version 14.
    assert qr_version(payload) == 15
    optimised = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    optimised.add_data(payload)
    optimised.make(fit=True)
    assert optimised.version == 14

    barcode = decode_png(render_qr_png(payload))
    assert barcode.bytes == payload
    extra = barcode.extra
    assert isinstance(extra, dict)
    assert extra["Version"] == "15"
    assert barcode.ec_level == "M"
