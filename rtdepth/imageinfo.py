"""What an image file's header says, read without decoding it: pixel size and EXIF tags.

The size lets a huge claimed image be refused before a decoder allocates it; the EXIF orientation turns a
phone's portrait photo upright; the EXIF focal length tells the camera (``FocalLengthIn35mmFilm``).
"""

from __future__ import annotations

import struct

ORIENTATION, EXIF_IFD, FOCAL_LENGTH, FOCAL_35MM = 0x0112, 0x8769, 0x920A, 0xA405


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP or WebP header; None when the format is not one of those."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def exif_tags(data: bytes) -> dict[int, float]:
    """Numeric tags of a JPEG's EXIF block (IFD0 and the Exif sub-IFD); empty when there is none."""
    tiff = _jpeg_exif(data)
    if tiff is None or len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return {}
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd0,) = struct.unpack(end + "I", tiff[4:8])
        tags = _ifd(tiff, ifd0, end)
        if EXIF_IFD in tags:
            tags |= _ifd(tiff, int(tags[EXIF_IFD]), end)
    except (struct.error, IndexError, ZeroDivisionError):
        return {}
    return tags


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1 = upright) of a JPEG; 1 when absent."""
    value = int(exif_tags(data).get(ORIENTATION, 1))
    return value if 1 <= value <= 8 else 1


def _jpeg_exif(data: bytes) -> bytes | None:
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker == 0xE1 and data[i + 4 : i + 10] == b"Exif\x00\x00":
            return data[i + 10 : i + 2 + length]
        if marker == 0xDA:  # start of scan: no more headers
            return None
        i += 2 + length
    return None


def _ifd(tiff: bytes, offset: int, end: str) -> dict[int, float]:
    (count,) = struct.unpack(end + "H", tiff[offset : offset + 2])
    tags: dict[int, float] = {}
    for k in range(min(count, 512)):
        entry = tiff[offset + 2 + 12 * k : offset + 14 + 12 * k]
        tag, kind, n = struct.unpack(end + "HHI", entry[:8])
        if n != 1:
            continue
        if kind == 3:  # SHORT
            tags[tag] = struct.unpack(end + "H", entry[8:10])[0]
        elif kind == 4:  # LONG
            tags[tag] = struct.unpack(end + "I", entry[8:12])[0]
        elif kind == 5:  # RATIONAL, stored at an offset
            (at,) = struct.unpack(end + "I", entry[8:12])
            num, den = struct.unpack(end + "II", tiff[at : at + 8])
            if den:
                tags[tag] = num / den
    return tags
