"""Photos: re-encoded with nothing but their pixels, refused in plain words when they cannot be read
safely, and sent only when the form says Photo attached: Yes."""

from __future__ import annotations

import io

from PIL import ExifTags, Image, PngImagePlugin

from safeguard.adapters.workbooks.images import reencode
from safeguard.domain.forms.photos import Photo, PhotoLimits, photo_problems
from testkit import samples

MAX_PIXELS = 40_000_000
LIMITS = PhotoLimits(count=2, megabytes=1)


def opened(photo: Photo) -> Image.Image:
    return Image.open(io.BytesIO(photo.data))


def test_a_jpeg_is_re_encoded_without_exif_or_gps_and_turned_upright() -> None:
    original = samples.photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    photo = reencode(original, MAX_PIXELS)
    assert photo.problem is None and photo.content_type == "image/jpeg"
    image = opened(photo)
    assert image.format == "JPEG" and dict(image.getexif()) == {} and "exif" not in image.info
    assert image.size == (48, 64)  # the EXIF orientation was applied before the EXIF was dropped
    assert b"ExamplePhone" not in photo.data and b"Exif" not in photo.data


def test_a_png_keeps_no_text_chunks_or_exif() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at 12 Nowhere Lane")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Cam"
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "PNG", pnginfo=info, exif=exif)
    photo = reencode(out.getvalue(), MAX_PIXELS)
    assert photo.content_type == "image/png" and opened(photo).info == {}
    assert b"Nowhere" not in photo.data and dict(opened(photo).getexif()) == {}


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # 400 million pixels in about 50 KB
    photo = reencode(out.getvalue(), MAX_PIXELS)
    assert photo.data == b"" and photo.problem == "has more than 40 million pixels. Send a smaller copy."


def test_what_pillow_cannot_decode_is_a_problem_not_an_exception() -> None:
    whole = samples.photo_with_gps()
    for data in (b"", b"not an image", whole[:300], b"GIF89a" + whole[6:], b"%PDF-1.7\n" + b"0" * 100):
        photo = reencode(data, MAX_PIXELS)
        assert photo.data == b"" and photo.problem and "could not be read" in photo.problem


def test_yes_without_a_photo_and_a_photo_with_no_are_problems() -> None:
    good = Photo(b"x", "image/jpeg")
    assert photo_problems("Yes", [good], [10], LIMITS) == []
    assert photo_problems("No", [], [], LIMITS) == photo_problems(None, [], [], LIMITS) == []
    assert [p.label for p in photo_problems("Yes", [], [], LIMITS)] == ["Photo attached"]
    [problem] = photo_problems("No", [good], [10], LIMITS)
    assert str(problem).startswith("Photo attached: is No but 1 photo(s) are attached.")
    [problem] = photo_problems(None, [good], [10], LIMITS)
    assert str(problem).startswith("Photo attached: is blank but 1 photo(s) are attached.")


def test_photo_count_size_and_unreadable_photos_are_named_by_their_order() -> None:
    good, bad = Photo(b"x", "image/jpeg"), Photo(problem="could not be read.")
    messages = [str(p) for p in photo_problems("Yes", [good, bad, None], [10, 10, 10], LIMITS)]
    assert messages == ["Photos: 3 are attached; at most 2 can go with an alert. Send only the ones the "
                        "hospitals need.", "Photos: photo 2 could not be read."]
    assert [str(p) for p in photo_problems("Yes", [None], [2 * 1024 * 1024], LIMITS)] == [
        "Photos: photo 1 is larger than 1 MB. Send a smaller copy."]
