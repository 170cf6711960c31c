"""Runs Inspect's own sandbox conformance suite (inspect_ai.util._sandbox.self_check) against
the `arbiter` provider on a real Arbiter: one scenario, every check in the order Inspect
defines them, one line per check.

    ARBITER_URL=... ARBITER_ET=... python clients/inspect/tests/self_check.py [--template T --track K] [--json out.json]

In inspect-ai 0.3.285 the suite is a set of pytest-style `test_*(sandbox_env)` coroutines (there
is no `self_check()` entry point any more); pytest is not needed to call them.

Exit status 0 only when every check passed, or failed or was skipped with a reason in ALLOWED or
SKIPPED below.
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
_TMP = "the scenario's root file system is read-only and /work (a tmpfs) is its only writable place; /tmp is not writable"
ALLOWED: dict[str, dict[str, str]] = {
    "log-triage": {
        "test_read_and_write_file_including_directory_absolute": _TMP,
        "test_write_text_file_is_directory": _TMP,
        "test_write_binary_file_is_directory": _TMP,
        "test_cwd_absolute": _TMP,
        "test_cwd_custom": "the image is busybox installed into /bin: there is no /usr/bin to list",
        "test_exec_as_user": "the template allows only its own user (1000:1000): no root, so no adduser",
        "test_exec_input_large": "Arbiter caps exec input at 10 MiB (413 input_too_large; the 50 MiB body is cut off at the API's body limit, so the client sees the connection close)",
        "test_exec_large_command": "Arbiter caps argv at 256 KiB (400 argv_too_long); the check sends 1 MiB",
        "test_read_and_write_large_file_binary": "it writes 50 MiB into /work, an 8 MiB tmpfs: a clean 413 too_large (no space left)",
    },
}

# Checks not even run, each with the reason: running them would harm the stack under test.
SKIPPED: dict[str, dict[str, str]] = {
    "log-triage": {
    },
}

CHECK_TIMEOUT_SECONDS = 180


async def arbiter_exec_timeout_returns_promptly(sandbox_env: Any) -> None:
    # Inspect's timeout checks wait for the TimeoutError and then look for leftover processes;
    # an answer that only comes when the command ends by itself passes them. The contract says a
    # timeout kills the process and its children, so the answer must come soon after it.
    started = time.monotonic()
    try:
        await sandbox_env.exec(["sh", "-c", "sleep 20 & sleep 20"], timeout=2)
    except TimeoutError:
        pass
    else:
        raise AssertionError("no TimeoutError")
    took = time.monotonic() - started
    assert took < 10, f"the timeout of 2 s was answered after {took:.1f} s: the command was not killed"


def checks() -> list[tuple[str, Callable[[Any], Awaitable[None]]]]:
    fns = [(name, getattr(self_check, name)) for name in self_check.__all__]
    # __all__ is alphabetical; the source order groups related checks (files, exec, cwd)
    ordered = sorted(fns, key=lambda nf: pyinspect.getsourcelines(nf[1])[1])
    return ordered + [("arbiter_exec_timeout_returns_promptly", arbiter_exec_timeout_returns_promptly)]


async def run(template: str, track: str, only: list[str] | None) -> list[dict[str, Any]]:
    settings = resolve_settings(ArbiterSandboxConfig(template=template, track=track))
    env = await ArbiterSandboxEnvironment.spawn(ArbiterClient(settings.url), settings)
    print(f"scenario {env.scenario_id} ({template}/{track}) running at {env.page_url}", flush=True)
    allowed = ALLOWED.get(template, {})
    skipped = SKIPPED.get(template, {})
    results: list[dict[str, Any]] = []
    try:
        for name, fn in checks():
            if only and name not in only:
                continue
            if name in skipped:
                results.append({"check": name, "result": "skipped", "seconds": 0, "error": None, "reason": skipped[name]})
                print(f"{'skipped':<8} {name:<55} {0:6.2f}s  [skipped: {skipped[name]}]", flush=True)
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
