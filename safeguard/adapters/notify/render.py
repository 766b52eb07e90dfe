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

_SHIPPED_TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def templates_dir() -> Path:
    """SAFEGUARD_TEMPLATES, or the templates shipped with the code; read when asked, not at import
    (intake helpers start from a forkserver with the environment of the moment it started)."""
    return Path(os.environ.get("SAFEGUARD_TEMPLATES") or _SHIPPED_TEMPLATES)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def phone(number: str | None) -> str:
    """Digits as people write them: 024 7683 1234, 07700 900123, 01632 960001."""
    n = number or ""
    if len(n) == 11 and n.startswith("02"):
        return f"{n[:3]} {n[3:7]} {n[7:]}"
    if len(n) == 11 and n[:2] in ("01", "07", "03", "08"):
        return f"{n[:5]} {n[5:]}"
    return n


def nhs_number(number: str | None) -> str:
    n = number or ""
    return f"{n[:3]} {n[3:6]} {n[6:]}" if len(n) == 10 else n


def environment() -> Environment:
    """The environment for the templates folder in use now: one per folder, built once."""
    return _environment(templates_dir())


@cache
def _environment(folder: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(folder / "email"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # read once a process (each flow run is one): no file check for every email
    )
    env.filters.update(phone=phone, nhs=nhs_number)
    return env


def render_email(name: str, **data: Any) -> Rendered:
    env = environment()
    subject = env.get_template(f"{name}.subject.j2").render(**data)
    return Rendered(
        subject=" ".join(subject.split()),  # one line, whatever the data held
        text=env.get_template(f"{name}.txt.j2").render(**data),
        html=env.get_template(f"{name}.html.j2").render(**data),
    )
