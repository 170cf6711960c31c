"""Which Arbiter template a task's samples run in, and where the Arbiter API is.

The entitlement token is deliberately not part of this model: task files and their sandbox
configs get committed and logged, a bearer token must not be. It comes from ARBITER_ET.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict


class ArbiterSandboxConfig(BaseModel):
    """`sandbox=("arbiter", ArbiterSandboxConfig(template=..., track=...))` or a YAML/JSON file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: str
    track: str
    url: str | None = None
    """API base, e.g. http://127.0.0.1:8080; ARBITER_URL when absent."""
    service: str | None = None
    """One service of a multi-service scenario; the main one when absent."""
    start_timeout: float = 600.0
    """Seconds a sample waits for its scenario to be `running`, quota waits included."""


class ArbiterSettings(BaseModel):
    """A config resolved against the environment: everything one spawn needs."""

    model_config = ConfigDict(frozen=True)

    config: ArbiterSandboxConfig
    url: str
    et: str
    operator_token: str | None


def load_config(config: BaseModel | str | dict[str, Any] | None) -> ArbiterSandboxConfig:
    if isinstance(config, ArbiterSandboxConfig):
        return config
    if isinstance(config, dict):
        return ArbiterSandboxConfig(**config)
    if isinstance(config, BaseModel):
        return ArbiterSandboxConfig(**config.model_dump())
    if isinstance(config, str):
        text = Path(config).read_text(encoding="utf-8")
        data = json.loads(text) if config.endswith(".json") else yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"{config}: expected a mapping with template and track")
        return ArbiterSandboxConfig(**data)
    # No config at all: the environment may still name the template, so that
    # `--sandbox arbiter` on the command line is enough.
    template, track = os.environ.get("ARBITER_TEMPLATE"), os.environ.get("ARBITER_TRACK")
    if not template or not track:
        raise ValueError(
            "the arbiter sandbox needs a template and a track: give a config "
            '(sandbox=("arbiter", "arbiter.yaml")) or set ARBITER_TEMPLATE and ARBITER_TRACK'
        )
    return ArbiterSandboxConfig(template=template, track=track)


def resolve_settings(
    config: BaseModel | str | dict[str, Any] | None,
    environ: dict[str, str] | None = None,
) -> ArbiterSettings:
    env = os.environ if environ is None else environ
    cfg = load_config(config)
    url = cfg.url or env.get("ARBITER_URL")
    if not url:
        raise ValueError("the arbiter sandbox needs the API's address: set ARBITER_URL or `url` in its config")
    et = env.get("ARBITER_ET")
    if not et:
        raise ValueError("the arbiter sandbox needs an entitlement token in ARBITER_ET")
    return ArbiterSettings(
        config=cfg,
        url=url.rstrip("/"),
        et=et,
        operator_token=env.get("ARBITER_OPERATOR_TOKEN") or None,
    )
