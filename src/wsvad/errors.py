"""Error types: every message says what was wrong and how to fix it."""


class WsvadError(Exception):
    """Base class for errors caused by user input (files, configs, checkpoints)."""


class DataError(WsvadError):
    """A feature file, list, label or ground-truth file is missing or malformed."""


class ContractMismatch(WsvadError):
    """Features and a checkpoint (or two feature sources) were made differently."""


class ConfigError(WsvadError):
    """A configuration value is unknown or out of range."""
