"""Re-encoding a photo with Pillow so that nothing but its pixels is kept (no EXIF, GPS, comments
or colour profile). Runs in the bounded reader process (reader.py), like every attachment read.

An image is refused before it is decoded when its header claims more than `max_pixels` pixels (a
decompression bomb); anything Pillow cannot decode is refused too. Refusals come back as
Photo.problem, in plain words, never as an exception.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from safeguard.domain.forms.photos import Photo

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
JPEG_QUALITY = 90
_NOT_A_PHOTO = ("could not be read as a .jpg or .png photo (it may be damaged or another kind of file). "
                "Save it again as .jpg or .png and send it again.")


def reencode(data: bytes, max_pixels: int) -> Photo:
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own guard, beside the check below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(FORMATS)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return _too_large(max_pixels)
                image.load()
                return _pixels_only(image, str(image.format))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return _too_large(max_pixels)
    except MemoryError:
        raise  # the reader process reports itself overran
    except Exception:  # noqa: BLE001 - whatever a damaged or hostile file makes Pillow raise
        return Photo(problem=_NOT_A_PHOTO)


def _too_large(max_pixels: int) -> Photo:
    return Photo(problem=f"has more than {max_pixels // 1_000_000} million pixels. Send a smaller copy.")


def _pixels_only(image: Image.Image, kind: str) -> Photo:
    """A new image holding only the pixels, turned upright as its EXIF orientation says, then saved
    with nothing else."""
    upright = ImageOps.exif_transpose(image)
    if kind == "JPEG":
        upright = upright if upright.mode in ("RGB", "L") else upright.convert("RGB")
    elif upright.mode not in ("RGB", "RGBA", "L", "LA"):
        upright = upright.convert("RGBA")
    fresh = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    out = io.BytesIO()
    if kind == "JPEG":
        fresh.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        fresh.save(out, "PNG", optimize=False)
    return Photo(out.getvalue(), FORMATS[kind])
