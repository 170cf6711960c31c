# Loaded by Inspect through the `inspect_ai` entry point group: importing the provider registers
# the `arbiter` sandbox type.
from .sandbox import ArbiterSandboxEnvironment  # noqa: F401
