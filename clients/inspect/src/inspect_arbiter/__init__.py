"""Arbiter scenarios as Inspect sandboxes: `sandbox=("arbiter", "arbiter.yaml")`."""

from .client import ArbiterApiError
from .config import ArbiterSandboxConfig
from .sandbox import STORE_KEY, ArbiterSandboxEnvironment

__all__ = ["ArbiterApiError", "ArbiterSandboxConfig", "ArbiterSandboxEnvironment", "STORE_KEY"]
