"""The exposure fields the viewer shows (shutter, aperture, ISO, focal length) from EXIF."""

from __future__ import annotations

import io

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from imagevec.io.exif import EXIF_FIELDS, photo_fields


def _jpeg(**tags: object) -> Image.Image:
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    for tag, value in tags.items():
        ifd[int(tag[1:], 16)] = value
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, "JPEG", exif=exif)
    buffer.seek(0)
    return Image.open(buffer)


def test_exposure_fields_are_read_and_reserved() -> None:
    fields = photo_fields(
        _jpeg(
            x829A=IFDRational(1, 250),
            x829D=IFDRational(28, 10),
            x8827=400,
            x920A=IFDRational(35, 1),
        )
    )
    assert fields["exposure_time"] == "1/250" and fields["f_number"] == 2.8
    assert fields["iso"] == 400 and fields["focal_length"] == 35.0
    assert {"exposure_time", "f_number", "iso", "focal_length"} <= EXIF_FIELDS
    assert photo_fields(_jpeg(x829A=IFDRational(2, 1)))["exposure_time"] == "2"


def test_broken_exposure_values_are_left_out() -> None:
    fields = photo_fields(_jpeg(x829A=IFDRational(1, 0), x829D=IFDRational(-1, 1), x8827=0))
    assert not {"exposure_time", "f_number", "iso"} & set(fields)
