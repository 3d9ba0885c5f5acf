"""The configuration file a command is given: read, or its problems told on stderr."""

from __future__ import annotations

import sys

from kafka_autoscaler.config import AutoscalerConfig, ConfigError, load_config

EXIT_INVALID = 2  # the configuration file could not be used


def read_config(path: str) -> AutoscalerConfig | None:
    """The configuration in `path`, or None after printing every problem with it to stderr."""
    try:
        return load_config(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return None
