"""Photos sent with a form: what the reader process made of each, and the rules for sending them.

A photo travels to the providers with the alert and update notices only when the form says
`Photo attached: Yes`. It is decoded and re-encoded (so no EXIF, GPS or other metadata is kept)
in the bounded reader process (safeguard/adapters/workbooks/images.py), never in intake itself.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from safeguard.domain.forms.problems import Problem
from safeguard.domain.forms.raw import RawForm
from safeguard.domain.forms.values import as_text

PHOTO_EXTENSIONS = ("jpg", "jpeg", "png")
EXTENSION_FOR = {"image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True)
class Photo:
    """data: the re-encoded image (content_type image/jpeg or image/png). problem: why it could not
    be used, ending a sentence that starts "Photo N ..."."""

    data: bytes = b""
    content_type: str = ""
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"data": base64.b64encode(self.data).decode("ascii"), "content_type": self.content_type,
                "problem": self.problem}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Photo:
        problem = data.get("problem")
        return cls(base64.b64decode(str(data.get("data") or "")), str(data.get("content_type") or ""),
                   problem if isinstance(problem, str) else None)

    def filename(self, number: int) -> str:
        return f"photo-{number}.{EXTENSION_FOR.get(self.content_type, 'jpg')}"


UNREADABLE = Photo(problem="could not be read as a photo within the time and memory allowed. Save it "
                           "again as .jpg or .png and send it again.")


@dataclass(frozen=True)
class PhotoLimits:
    count: int
    megabytes: float


def photo_answer(raw: RawForm) -> str | None:
    """Photo attached as written on a form that has other problems: Yes, No, None when blank, or
    the text (a value the form's own checks report)."""
    text = as_text(raw.fields.get("photo_attached")).strip()
    return text.capitalize() if text.lower() in ("yes", "no") else text or None


def photo_problems(answer: str | None, photos: Sequence[Photo | None], sizes: Sequence[int],
                   limits: PhotoLimits) -> list[Problem]:
    """answer: the form's Photo attached ("Yes", "No", None when blank; anything else is reported by
    the form's own checks). photos: each photo attachment as read, None when it was not read (over
    a limit). Photos are named by their order in the message, never by file name."""
    problems: list[Problem] = []
    if len(photos) > limits.count:
        problems.append(Problem("Photos", f"{len(photos)} are attached; at most {limits.count} can go with "
                                "an alert. Send only the ones the hospitals need."))
    for number, (photo, size) in enumerate(zip(photos[:limits.count], sizes, strict=False), start=1):
        if size > limits.megabytes * 1024 * 1024:
            problems.append(Problem("Photos", f"photo {number} is larger than {limits.megabytes:g} MB. "
                                    "Send a smaller copy."))
        elif (photo or UNREADABLE).problem:
            problems.append(Problem("Photos", f"photo {number} {(photo or UNREADABLE).problem}"))
    if answer == "Yes" and not photos:
        problems.append(Problem("Photo attached", "is Yes but no photo is attached. Attach the photo "
                                "(.jpg or .png) to the email, or set Photo attached to No."))
    elif photos and answer in ("No", None):
        problems.append(Problem("Photo attached", f"is {answer or 'blank'} but {len(photos)} photo(s) "
                                "are attached. Photos go to hospitals only when Photo attached is Yes: set "
                                "it to Yes, or send the form again without the photos."))
    return problems
