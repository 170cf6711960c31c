"""How Arbiter's answers become Inspect's results and exceptions, without a stack: the pure
mapping functions, and the provider against an in-process fake of the API (httpx.MockTransport)
for the spawn/cleanup sequence. Runs under pytest, or as `python tests/test_mapping.py`.
"""

from __future__ import annotations

import base64
import errno
import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Callable

import anyio
import httpx
from inspect_ai.util import OutputLimitExceededError, SandboxUnavailableError, SandboxUserUnsupportedError
from inspect_ai.util._sandbox.limits import override_max_read_file_size

from inspect_arbiter.client import (
    ApiErrorBody,
    ArbiterClient,
    exec_body,
    exec_error,
    exec_result,
    file_error,
    retry_delay,
)
from inspect_arbiter.config import ArbiterSandboxConfig, ArbiterSettings, load_config, resolve_settings
from inspect_arbiter.sandbox import ArbiterSandboxEnvironment


def raises(kind: type[BaseException], fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except kind as ex:
        return ex
    raise AssertionError(f"expected {kind.__name__}")


def test_exec_body_keeps_empty_input_and_encodes_bytes() -> None:
    assert exec_body(["cat"], "", None, None, None, None, None) == {"cmd": ["cat"], "input": ""}
    assert "input" not in exec_body(["cat"], None, None, None, None, None, None)
    body = exec_body(["cat"], b"\xc3\x28\x00", "sub", {"A": "1"}, "root", 5, "db")
    assert body["input"] == {"base64": base64.b64encode(b"\xc3\x28\x00").decode()}
    assert (body["cwd"], body["env"], body["user"], body["timeoutSeconds"], body["service"]) == ("sub", {"A": "1"}, "root", 5, "db")


def ok(**over: Any) -> dict[str, Any]:
    return {"exitCode": 0, "stdout": "", "stderr": "", "truncated": {"stdout": False, "stderr": False}, "timedOut": False, "durationMs": 1, "seq": 3, **over}


def test_exec_result_maps_exit_code_and_streams() -> None:
    r = exec_result(ok(exitCode=70, stdout="foo\n", stderr="bar"), ["sh"], None)
    assert (r.success, r.returncode, r.stdout, r.stderr) == (False, 70, "foo\n", "bar")
    assert exec_result(ok(), ["true"], None).success


def test_exec_timeout_raises_with_partial_output() -> None:
    ex = raises(TimeoutError, lambda: exec_result(ok(timedOut=True, exitCode=None, stdout="part"), ["sleep"], 2))
    assert getattr(ex, "truncated_output") == "part"


def test_exec_truncated_output_raises_output_limit() -> None:
    ex = raises(OutputLimitExceededError, lambda: exec_result(ok(stdout="x", truncated={"stdout": True, "stderr": False}), ["yes"], None))
    assert "limit of 10 MiB was exceeded" in str(ex)


def test_exec_runtime_permission_refusal_only() -> None:
    refusal = 'OCI runtime exec failed: exec failed: unable to start container process: exec: "/etc/passwd": permission denied: unknown'
    raises(PermissionError, lambda: exec_result(ok(exitCode=126, stderr=refusal + "\n"), ["/etc/passwd"], None))
    raises(PermissionError, lambda: exec_result(ok(exitCode=126, stdout=refusal + "\r\n"), ["/etc/passwd"], None))
    # a shell's own complaint is the command's result, not a provider failure
    r = exec_result(ok(exitCode=126, stderr="sh: ./x: Permission denied\n"), ["sh", "-c", "./x"], None)
    assert r.returncode == 126


def test_exec_errors() -> None:
    assert isinstance(exec_error(400, ApiErrorBody("user_not_allowed", "no"), "nobody", ["id"]), SandboxUserUnsupportedError)
    assert isinstance(exec_error(409, ApiErrorBody("not_running", "ended"), None, ["id"]), SandboxUnavailableError)
    assert isinstance(exec_error(400, ApiErrorBody("bad_cwd", "x"), None, ["id"]), RuntimeError)
    assert isinstance(exec_error(400, ApiErrorBody("exec_refused", 'exec: "/etc/passwd": permission denied'), None, ["/etc/passwd"]), PermissionError)
    missing = exec_error(400, ApiErrorBody("exec_refused", 'exec: "nope": executable file not found in $PATH'), None, ["nope"])
    assert not isinstance(missing, BaseException) and missing.returncode == 127 and "not found" in missing.stderr


def test_file_errors_name_the_file() -> None:
    e = file_error(404, ApiErrorBody("file_not_found", "x"), "https:/en.wikipedia.org/wiki/x", "read_file")
    assert isinstance(e, FileNotFoundError) and e.errno == errno.ENOENT and "wikipedia" in str(e)
    e = file_error(400, ApiErrorBody("is_a_directory", "x"), "/etc", "read_file")
    assert isinstance(e, IsADirectoryError) and "directory" in str(e)
    e = file_error(403, ApiErrorBody("permission_denied", "x"), "f.file", "write_file")
    assert isinstance(e, PermissionError) and "f.file" in str(e)
    assert isinstance(file_error(413, ApiErrorBody("too_large", "x"), "big", "read_file"), OutputLimitExceededError)
    assert not isinstance(file_error(413, ApiErrorBody("too_large", "x"), "big", "write_file"), OutputLimitExceededError)
    assert isinstance(file_error(409, ApiErrorBody("not_running", "x"), "f", "read_file"), SandboxUnavailableError)
    full = file_error(409, ApiErrorBody("file_transfer_failed", "/work/f: cat: write error: No space left on device"), "f", "write_file")
    assert isinstance(full, OSError) and full.errno == errno.ENOSPC and not isinstance(full, SandboxUnavailableError)
    # a plan without file access is a configuration problem, not the file's permissions
    assert not isinstance(file_error(403, ApiErrorBody("access_not_granted", "x"), "f", "read_file"), PermissionError)


def test_retry_delay_honours_retry_after() -> None:
    assert retry_delay(httpx.Response(429, headers={"retry-after": "3"}), 0) == 3.0
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_delay(httpx.Response(503, headers={"retry-after": date}), 0, now=now) == 7.0
    assert 0 < retry_delay(httpx.Response(503), 2) <= 2.0


def test_config_forms(tmp_path: Any = None) -> None:
    assert load_config({"template": "log-triage", "track": "forensics"}).template == "log-triage"
    s = resolve_settings(ArbiterSandboxConfig(template="t", track="k"), {"ARBITER_URL": "http://h:1/", "ARBITER_ET": "et"})
    assert (s.url, s.et, s.operator_token) == ("http://h:1", "et", None)
    raises(ValueError, lambda: resolve_settings(ArbiterSandboxConfig(template="t", track="k"), {"ARBITER_URL": "http://h"}))


class FakeArbiter:
    """Just enough of the API for the spawn and cleanup sequence."""

    def __init__(self, refuse_spawns: int = 0, services: list[dict[str, Any]] | None = None) -> None:
        self.refuse_spawns = refuse_spawns
        self.services = services
        self.exec_bodies: list[dict[str, Any]] = []
        self.sats: list[str] = []
        self.spawned_with: list[str] = []
        self.polls = 0
        self.calls: list[tuple[str, str, str]] = []
        self.file = b"a" * 2048

    def __call__(self, req: httpx.Request) -> httpx.Response:
        auth = req.headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append((req.method, req.url.path, auth))
        path = req.url.path
        if path == "/api/sat":
            assert auth == "ET"
            self.sats.append(f"SAT{len(self.sats)}")
            return httpx.Response(201, json={"sat": self.sats[-1]})
        if path == "/api/spawn":
            self.spawned_with.append(auth)
            if self.refuse_spawns:
                self.refuse_spawns -= 1
                return httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"code": "quota_exceeded", "message": "2 at once"}})
            return httpx.Response(202, json={"scenarioId": "sc-1", "status": "pending", "accessToken": "ACCESS"})
        if path == "/api/scenarios/sc-1":
            self.polls += 1
            view: dict[str, Any] = {"scenarioId": "sc-1", "status": "running" if self.polls > 1 else "launching"}
            if self.services is not None:
                view["services"] = self.services
            return httpx.Response(200, json=view)
        if path == "/api/scenarios/sc-1/exec":
            self.exec_bodies.append(json.loads(req.content))
            return httpx.Response(200, json={"exitCode": 0, "stdout": "", "stderr": "", "truncated": {"stdout": False, "stderr": False}, "timedOut": False, "durationMs": 1, "seq": 0})
        if path == "/api/scenarios/sc-1/files":
            return httpx.Response(200, content=self.file)
        if path == "/api/scenarios/sc-1/completion-token":
            return httpx.Response(200, json={"token": "COMPLETION"})
        if path == "/api/scenarios/sc-1/complete" and json.loads(req.content)["outcome"] not in ("success", "failure", "gave_up"):
            return httpx.Response(400, json={"error": {"code": "bad_request", "message": "body/outcome"}})
        if path in ("/api/scenarios/sc-1/complete", "/api/scenarios/sc-1/cancel"):
            return httpx.Response(202, json={"status": "accepted"})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})


def settings(operator: str | None = None) -> ArbiterSettings:
    return ArbiterSettings(config=ArbiterSandboxConfig(template="log-triage", track="forensics", start_timeout=30), url="http://arbiter", et="ET", operator_token=operator)


def test_spawn_retries_a_refused_spawn_with_a_fresh_sat_then_cancels() -> None:
    fake = FakeArbiter(refuse_spawns=2)

    async def go() -> None:
        env = await ArbiterSandboxEnvironment.spawn(ArbiterClient("http://arbiter", httpx.MockTransport(fake)), settings())
        assert env.scenario_id == "sc-1"
        assert fake.spawned_with == ["SAT0", "SAT1", "SAT2"]
        conn = await env.connection()
        assert conn.command == "http://arbiter/scenarios/sc-1" and conn.container == "sc-1"
        # Inspect's limit is enforced client-side whatever the server sends
        with override_max_read_file_size(1024):
            try:
                await env.read_file("large.file")
                raise AssertionError("expected OutputLimitExceededError")
            except OutputLimitExceededError as ex:
                assert "limit of 1 KiB was exceeded" in str(ex)
        assert await env.read_file("large.file") == "a" * 2048
        await env.end()
        assert fake.calls[-1] == ("POST", "/api/scenarios/sc-1/cancel", "ACCESS")

    anyio.run(go)


def test_cleanup_with_an_operator_token_completes_through_a_completion_token() -> None:
    fake = FakeArbiter()

    async def go() -> None:
        env = await ArbiterSandboxEnvironment.spawn(ArbiterClient("http://arbiter", httpx.MockTransport(fake)), settings("OP"))
        await ArbiterSandboxEnvironment.sample_cleanup("t", None, {"default": env}, False)
        assert fake.calls[-2:] == [("POST", "/api/scenarios/sc-1/completion-token", "OP"), ("POST", "/api/scenarios/sc-1/complete", "COMPLETION")]
        try:
            await env.connection()
            raise AssertionError("expected ConnectionError")
        except ConnectionError:
            pass

    anyio.run(go)


def test_interrupted_sample_is_cancelled_even_with_an_operator_token() -> None:
    fake = FakeArbiter()

    async def go() -> None:
        env = await ArbiterSandboxEnvironment.spawn(ArbiterClient("http://arbiter", httpx.MockTransport(fake)), settings("OP"))
        await env.end(interrupted=True)
        assert fake.calls[-1][1] == "/api/scenarios/sc-1/cancel"

    anyio.run(go)


def test_a_multi_service_scenario_is_one_environment_per_service_and_only_default_ends_it() -> None:
    fake = FakeArbiter(services=[
        {"name": "workstation", "main": True, "required": True, "containerName": "c1", "workdir": "/work"},
        {"name": "target", "main": False, "required": True, "containerName": "c2", "workdir": "/work"},
    ])

    async def go() -> None:
        env = await ArbiterSandboxEnvironment.spawn(ArbiterClient("http://arbiter", httpx.MockTransport(fake)), settings())
        envs = env.environments()
        assert list(envs) == ["default", "target"]
        await envs["default"].exec(["true"])
        await envs["target"].exec(["true"])
        assert [b.get("service") for b in fake.exec_bodies] == [None, "target"]
        await ArbiterSandboxEnvironment.sample_cleanup("t", None, envs, False)
        ends = [c for c in fake.calls if c[1].endswith(("/cancel", "/complete"))]
        assert ends == [("POST", "/api/scenarios/sc-1/cancel", "ACCESS")], ends

    anyio.run(go)


def test_entry_point_registers_the_arbiter_type() -> None:
    from inspect_ai.util._sandbox.registry import registry_find_sandboxenv

    assert registry_find_sandboxenv("arbiter") is ArbiterSandboxEnvironment
    spec = json.loads(json.dumps({"type": "arbiter", "config": {"template": "t", "track": "k"}}))
    from inspect_ai.util import SandboxEnvironmentSpec

    assert isinstance(SandboxEnvironmentSpec.model_validate(spec).config, ArbiterSandboxConfig)


if __name__ == "__main__":
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok    {name}")
            except Exception as ex:  # noqa: BLE001
                failed += 1
                print(f"FAIL  {name}: {type(ex).__name__}: {ex}")
    raise SystemExit(1 if failed else 0)
