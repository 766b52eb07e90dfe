"""The shape of the site's configuration (pydantic models): what every layer may read. The YAML files
are read and validated by safeguard/adapters/config_files.py."""

from safeguard.domain.config.models import AlertType, Config, Provider

__all__ = ["AlertType", "Config", "Provider"]
