"""Read config/*.yaml, validate it, and say exactly what is wrong when it is not right."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from safeguard.domain.config.fgm import FgmSettings
from safeguard.domain.config.models import AlertTypes, Config, Directory, Settings, Timescales

FILES: dict[str, type[BaseModel]] = {
    "settings.yaml": Settings,
    "providers.yaml": Directory,
    "alert_types.yaml": AlertTypes,
    "timescales.yaml": Timescales,
    "fgm.yaml": FgmSettings,
}
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "config"
# libyaml's loader where PyYAML was built with it (its wheels are): the same safe loading, in C, about
# ten times faster; every process that opens the app reads the config, intake's helper processes too.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(Exception):
    """The configuration cannot be used; the message names file, key and problem for each fault."""


def config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get("SAFEGUARD_CONFIG") or DEFAULT_DIR
    return Path(chosen).resolve()


def load_config(directory: str | os.PathLike[str] | None = None) -> Config:
    folder = config_dir(directory)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: the configuration folder does not exist. "
                          "Pass --config DIR or set SAFEGUARD_CONFIG to the folder holding settings.yaml.")
    parsed: dict[str, BaseModel] = {}
    faults: list[str] = []
    for name, model in FILES.items():
        try:
            data = _apply_environment(name, _read_yaml(folder / name))
            parsed[name] = model.model_validate(_with_lookups(folder, data) if name == "fgm.yaml" else data)
        except ValidationError as exc:
            faults.extend(_describe(folder / name, exc))
        except ConfigError as exc:
            faults.append(str(exc))
    if faults:
        raise ConfigError("The configuration has problems:\n" + "\n".join(f"  - {f}" for f in faults))
    return Config(
        directory=folder,
        settings=parsed["settings.yaml"],  # type: ignore[arg-type]
        providers=parsed["providers.yaml"].providers,  # type: ignore[attr-defined]
        alert_types=parsed["alert_types.yaml"].alert_types,  # type: ignore[attr-defined]
        timescales=parsed["timescales.yaml"],  # type: ignore[arg-type]
        fgm=parsed["fgm.yaml"],  # type: ignore[arg-type]
    )


def _with_lookups(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """fgm.yaml's `area_lookup` names a file beside it (postcode district -> local authority): read it
    into `areas`, so it is validated, and reported, with the rest."""
    lookup = data.get("area_lookup")
    if not isinstance(lookup, str) or "areas" in data:
        return data
    path = folder / lookup
    if path.resolve().parent != folder.resolve():
        raise ConfigError(f"{folder / 'fgm.yaml'}: area_lookup: name a file in the configuration folder.")
    return {**data, "areas": _read_yaml(path)}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        if path.name == "timescales.yaml":
            return {}
        raise ConfigError(f"{path}: file is missing.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected keys and values at the top level, "
                          f"found a {type(data).__name__}.")
    return data


def _apply_environment(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Deployment-specific values that do not belong in YAML (URLs with passwords, local paths)."""
    if name != "settings.yaml":
        return data
    if url := os.environ.get("SAFEGUARD_DATABASE_URL"):
        data.setdefault("register", {})["url"] = url
    if maildir := os.environ.get("SAFEGUARD_MAILDIR"):
        data.setdefault("mailbox", {}).setdefault("maildir", {})["path"] = maildir
    if deliver := os.environ.get("SAFEGUARD_DELIVER_TO"):
        data.setdefault("mailbox", {}).setdefault("maildir", {})["deliver_to"] = deliver
    return data


def _describe(path: Path, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {key}: {message}")
    return lines
