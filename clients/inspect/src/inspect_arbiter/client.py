"""The Arbiter HTTP API as the sandbox provider uses it, and how its answers become what
Inspect's `SandboxEnvironment` contract promises (ExecResult, or the exceptions it names).

The mapping functions are pure so that they can be tested without a stack.
"""

from __future__ import annotations

import base64
import errno
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx
from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironmentLimits,
    SandboxUnavailableError,
    SandboxUserUnsupportedError,
)

# What Arbiter itself keeps of each output stream (CONTRACT "Subject access").
ARBITER_EXEC_OUTPUT_CAP = 10 * 1024 * 1024

# 429 and 503 say the request was not carried out, so sending it again is safe; anything else
# might have been, and is surfaced instead of retried.
RETRYABLE = (429, 503)
MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 30.0


class ArbiterApiError(RuntimeError):
    """An answer of the Arbiter API that has no meaning in Inspect's sandbox contract."""

    def __init__(self, status: int, code: str, message: str, what: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"{what}: Arbiter answered {status} {code}: {message}")


@dataclass(frozen=True)
class ApiErrorBody:
    code: str
    message: str


def error_body(response: httpx.Response) -> ApiErrorBody:
    """The contract's `{error: {code, message}}`, or something readable when a proxy answered."""
    try:
        err = response.json().get("error", {})
        return ApiErrorBody(str(err.get("code", "")), str(err.get("message", "")))
    except Exception:
        return ApiErrorBody("", response.text[:200] if response.is_stream_consumed else "")


def retry_delay(response: httpx.Response, attempt: int, now: datetime | None = None) -> float:
    """Seconds to wait before resending: Retry-After when the server gave one, else backoff."""
    header = response.headers.get("retry-after")
    if header:
        header = header.strip()
        if header.isdigit():
            return min(float(header), MAX_BACKOFF_SECONDS)
        try:
            when = parsedate_to_datetime(header)
            seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
            return min(max(seconds, 0.0), MAX_BACKOFF_SECONDS)
        except (TypeError, ValueError):
            pass
    # jitter so that samples refused together do not come back together
    return min(0.5 * 2**attempt, MAX_BACKOFF_SECONDS) * (0.5 + random.random() / 2)


def exec_body(
    cmd: list[str],
    input: str | bytes | None,
    cwd: str | None,
    env: dict[str, str] | None,
    user: str | None,
    timeout: int | None,
    service: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": cmd}
    # `is not None`: an empty input is still an input (stdin is opened and closed at once).
    if isinstance(input, (bytes, bytearray, memoryview)):
        body["input"] = {"base64": base64.b64encode(bytes(input)).decode("ascii")}
    elif input is not None:
        body["input"] = input
    if cwd is not None:
        body["cwd"] = cwd
    if env:
        body["env"] = env
    if user is not None:
        body["user"] = user
    if timeout is not None:
        body["timeoutSeconds"] = timeout
    if service is not None:
        body["service"] = service
    return body


def _text(value: Any) -> str:
    if isinstance(value, dict) and "base64" in value:
        return base64.b64decode(value["base64"]).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def exec_output_limit_str() -> str:
    # Arbiter cuts at its own cap whatever Inspect's limit is; a limit raised above that cap
    # (INSPECT_SANDBOX_MAX_EXEC_OUTPUT_SIZE) must not be named as the one that was hit.
    if SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE <= ARBITER_EXEC_OUTPUT_CAP:
        return SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE_STR
    return "10 MiB"


def exec_result(body: dict[str, Any], cmd: list[str], timeout: int | None) -> ExecResult[str]:
    """A 200 answer of POST /exec as Inspect expects it, or the exception Inspect expects."""
    stdout, stderr = _text(body.get("stdout")), _text(body.get("stderr"))
    if body.get("timedOut"):
        error = TimeoutError(f"Command timed out after {timeout} seconds")
        # Inspect's docker provider hands partial output on the same way.
        if stdout or stderr:
            setattr(error, "truncated_output", stdout + stderr)
        raise error
    truncated = body.get("truncated") or {}
    if truncated.get("stdout") or truncated.get("stderr"):
        raise OutputLimitExceededError(exec_output_limit_str(), truncated_output=stdout + stderr)
    code = body.get("exitCode")
    returncode = int(code) if code is not None else -1
    if _runtime_refused_permission(returncode, stdout, stderr):
        raise PermissionError(errno.EACCES, f"Permission denied executing command: {stderr.strip()}", cmd[0] if cmd else "")
    return ExecResult(success=returncode == 0, returncode=returncode, stdout=stdout, stderr=stderr)


def _runtime_refused_permission(returncode: int, stdout: str, stderr: str) -> bool:
    # Only the container runtime's own one-line refusal (runc: "OCI runtime exec failed: ...
    # permission denied", on either stream) means the command could not be started; a shell in
    # the sandbox printing "Permission denied" about the command's own work is an ordinary result.
    if returncode != 126 or (stdout.strip() and stderr.strip()):
        return False
    lines = (stdout.strip() or stderr.strip()).splitlines()
    if len(lines) != 1:
        return False
    line = lines[0].lower()
    return line.startswith("oci runtime exec failed") and "permission denied" in line


def exec_error(status: int, err: ApiErrorBody, user: str | None, cmd: list[str]) -> Exception | ExecResult[str]:
    """A refused exec as Inspect's contract names it; some refusals are ordinary results there."""
    if status == 400 and err.code == "user_not_allowed":
        return SandboxUserUnsupportedError(f"user {user!r} is not allowed by this scenario's template: {err.message}")
    if status == 400 and err.code == "exec_refused":
        # The engine would not start the command: not executable is PermissionError; a missing
        # executable (or cwd) is an ordinary failed result, as a shell would report it.
        message = err.message.lower()
        if "permission denied" in message:
            return PermissionError(errno.EACCES, f"Permission denied executing command: {err.message}", cmd[0] if cmd else "")
        code = 127 if ("not found" in message or "no such file" in message) else 126
        return ExecResult(success=False, returncode=code, stdout="", stderr=err.message + "\n")
    if status == 409 and err.code == "not_running":
        return SandboxUnavailableError(f"The scenario is not running and cannot execute: {err.message}")
    if status == 403 and err.code == "permission_denied":
        return PermissionError(errno.EACCES, f"Permission denied executing command: {err.message}")
    return ArbiterApiError(status, err.code, err.message, "exec")


def file_error(status: int, err: ApiErrorBody, file: str, verb: str) -> Exception:
    """Errors of GET/PUT /files as the `read_file`/`write_file` contract names them.

    The path goes in as the OSError filename: Inspect's checks (and people) look for it there.
    """
    if status == 404 and err.code == "file_not_found":
        return FileNotFoundError(errno.ENOENT, "No such file or directory", file)
    if status == 400 and err.code == "is_a_directory":
        return IsADirectoryError(errno.EISDIR, "Is a directory", file)
    if status == 403 and err.code == "permission_denied":
        return PermissionError(errno.EACCES, "Permission denied", file)
    if status == 413 and verb == "read_file":
        return OutputLimitExceededError(SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, truncated_output=None)
    if status == 409 and err.code == "not_running":
        return SandboxUnavailableError(f"The scenario is not running: {verb} {file}: {err.message}")
    if "no space left on device" in err.message.lower():
        # file_transfer_failed: the scenario's writable space (a size-limited tmpfs) is full
        return OSError(errno.ENOSPC, "No space left on device", file)
    return ArbiterApiError(status, err.code, err.message, f"{verb} {file}")


def read_file_limit_error() -> OutputLimitExceededError:
    return OutputLimitExceededError(SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, truncated_output=None)


class ArbiterClient:
    """One httpx client per sandbox; retries only what the server says was not done."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            # a read timeout is set per request: an exec may legitimately take as long as it is allowed to
            timeout=httpx.Timeout(connect=15.0, read=60.0, write=300.0, pool=None),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        stream: bool = False,
        retry: bool = True,
        read_timeout: float | None = 60.0,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["authorization"] = f"Bearer {token}"
        timeout = httpx.Timeout(connect=15.0, read=read_timeout, write=300.0, pool=None)
        attempt = 0
        while True:
            request = self._http.build_request(method, path, headers=headers, timeout=timeout, **kwargs)
            response = await self._http.send(request, stream=True)
            if retry and response.status_code in RETRYABLE and attempt + 1 < MAX_ATTEMPTS:
                await response.aread()
                await response.aclose()
                await anyio.sleep(retry_delay(response, attempt))
                attempt += 1
                continue
            if not stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return response
