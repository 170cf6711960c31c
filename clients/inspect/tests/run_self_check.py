"""Runs Inspect's own sandbox conformance suite (inspect_ai.util._sandbox.self_check) against
the `arbiter` provider on a real Arbiter: one scenario, every check in the order Inspect
defines them, one line per check.

    ARBITER_URL=... ARBITER_ET=... python clients/inspect/tests/self_check.py [--template T --track K] [--json out.json]

In inspect-ai 0.3.285 the suite is a set of pytest-style `test_*(sandbox_env)` coroutines (there
is no `self_check()` entry point any more); pytest is not needed to call them.

Exit status 0 only when every check passed or failed with a reason in ALLOWED below.
"""

from __future__ import annotations

import argparse
import inspect as pyinspect
import json
import os
import sys
import time
import traceback
from typing import Any, Awaitable, Callable

import anyio
from inspect_ai.util._sandbox import self_check

from inspect_arbiter.client import ArbiterClient
from inspect_arbiter.config import ArbiterSandboxConfig, resolve_settings
from inspect_arbiter.sandbox import ArbiterSandboxEnvironment

# Checks that cannot pass on a given template whatever the provider does, each with the reason.
# A check listed here that passes is reported, so that the list only ever shrinks.
ALLOWED: dict[str, dict[str, str]] = {
    "log-triage": {},
}

CHECK_TIMEOUT_SECONDS = 180


def checks() -> list[tuple[str, Callable[[Any], Awaitable[None]]]]:
    fns = [(name, getattr(self_check, name)) for name in self_check.__all__]
    # __all__ is alphabetical; the source order groups related checks (files, exec, cwd)
    return sorted(fns, key=lambda nf: pyinspect.getsourcelines(nf[1])[1])


async def run(template: str, track: str, only: list[str] | None) -> list[dict[str, Any]]:
    settings = resolve_settings(ArbiterSandboxConfig(template=template, track=track))
    env = await ArbiterSandboxEnvironment.spawn(ArbiterClient(settings.url), settings)
    print(f"scenario {env.scenario_id} ({template}/{track}) running at {env.page_url}", flush=True)
    allowed = ALLOWED.get(template, {})
    results: list[dict[str, Any]] = []
    try:
        for name, fn in checks():
            if only and name not in only:
                continue
            started = time.monotonic()
            error = None
            try:
                with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
                    await fn(env)
            except BaseException as ex:  # noqa: BLE001 - a check's failure is data here
                if isinstance(ex, (KeyboardInterrupt, SystemExit)):
                    raise
                error = f"{type(ex).__name__}: {ex}"[:400]
                if os.environ.get("SELF_CHECK_TRACEBACK"):
                    traceback.print_exc()
            seconds = time.monotonic() - started
            if error is None:
                result = "pass" if name not in allowed else "pass (allow-listed: remove it)"
            else:
                result = "allowed" if name in allowed else "FAIL"
            row = {"check": name, "result": result, "seconds": round(seconds, 2), "error": error, "reason": allowed.get(name)}
            results.append(row)
            detail = f"  {error}" if error else ""
            reason = f"  [allowed: {allowed[name]}]" if error and name in allowed else ""
            print(f"{result:<8} {name:<55} {seconds:6.2f}s{detail}{reason}", flush=True)
    finally:
        with anyio.CancelScope(shield=True):
            await env.end()
    results.append({"scenarioId": env.scenario_id})
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--template", default=os.environ.get("ARBITER_TEMPLATE", "log-triage"))
    p.add_argument("--track", default=os.environ.get("ARBITER_TRACK", "forensics"))
    p.add_argument("--json", help="write the results here as JSON")
    p.add_argument("--only", nargs="*", help="run only these checks")
    a = p.parse_args()
    rows = anyio.run(run, a.template, a.track, a.only)
    checked = [r for r in rows if "check" in r]
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"template": a.template, "track": a.track, "scenarioId": rows[-1]["scenarioId"], "checks": checked}, f, indent=2)
    counts: dict[str, int] = {}
    for r in checked:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    print("summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" of {len(checked)} checks")
    return 1 if any(r["result"] == "FAIL" for r in checked) else 0


if __name__ == "__main__":
    sys.exit(main())
