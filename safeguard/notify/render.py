"""One Jinja environment for every email: StrictUndefined, autoescape on for HTML only.

Each email kind has three templates in templates/email/: NAME.subject.j2, NAME.txt.j2 and
NAME.html.j2, rendered from the same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(os.environ.get("SAFEGUARD_TEMPLATES", Path(__file__).resolve().parents[2] / "templates"))


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES / "email"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_email(name: str, **data: Any) -> Rendered:
    env = environment()
    subject = env.get_template(f"{name}.subject.j2").render(**data)
    return Rendered(
        subject=" ".join(subject.split()),  # one line, whatever the data held
        text=env.get_template(f"{name}.txt.j2").render(**data),
        html=env.get_template(f"{name}.html.j2").render(**data),
    )
