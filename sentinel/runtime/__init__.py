"""The production Trio runtime around the sans-IO sentinel core (see docs/sentinel-runtime.md)."""

from sentinel.runtime.runtime import CrashRequested, FatalError, Runtime

__all__ = ["CrashRequested", "FatalError", "Runtime"]
