"""The package version, kept in one place (pyproject.toml reads it from here).

A plain constant, not ``importlib.metadata``: importing that costs tens of
milliseconds of start-up on every ``bwc`` command.
"""

__version__ = "0.1.0"
