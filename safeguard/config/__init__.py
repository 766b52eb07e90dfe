"""Configuration: YAML files in a config directory, validated by pydantic at start-up."""

from safeguard.config.loader import ConfigError, config_dir, load_config
from safeguard.config.models import AlertType, Config, Provider

__all__ = ["AlertType", "Config", "ConfigError", "Provider", "config_dir", "load_config"]
