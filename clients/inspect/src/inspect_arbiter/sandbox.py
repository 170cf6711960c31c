"""Inspect's `SandboxEnvironment` on Arbiter: each sample gets its own scenario.

sample_init spawns (ET -> SAT -> spawn -> running), exec/read_file/write_file go through the
scenario's subject-access API, sample_cleanup ends the scenario. Every call is recorded by
Arbiter in the scenario's transcript, which its signed verdict binds.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Union, overload

import anyio
from inspect_ai.util import (
    ExecResult,
    SandboxConnection,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    sandboxenv,
)
from pydantic import BaseModel

from .client import (
    RETRYABLE,
    ArbiterApiError,
    ArbiterClient,
    error_body,
    exec_body,
    exec_error,
    exec_result,
    file_error,
    read_file_limit_error,
    retry_delay,
)
from .config import ArbiterSandboxConfig, ArbiterSettings, resolve_settings

logger = logging.getLogger(__name__)

# Where a scenario's id is kept per sample (the sample's store is saved in the eval log).
STORE_KEY = "arbiter_scenario_id"

ENDED = {"denied", "failed", "timed_out", "cancelled", "expired", "scored", "scoring"}


@sandboxenv(name="arbiter")
class ArbiterSandboxEnvironment(SandboxEnvironment):
    def __init__(
        self,
        client: ArbiterClient,
        settings: ArbiterSettings,
        scenario_id: str,
        access_token: str,
        sat: str,
        service: str | None = None,
        primary: bool = True,
    ) -> None:
        super().__init__()
        self._client = client
        self._settings = settings
        self.scenario_id = scenario_id
        self._token = access_token
        self._sat = sat
        # The service this environment works in (None: the main one), and whether it is the
        # scenario's own environment, which ends it; the others are views of the same scenario.
        self._service = service if service is not None else settings.config.service
        self._primary = primary
        self._services: list[str] = []
        self._ended = False

    # --- configuration ------------------------------------------------------------------------

    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return ArbiterSandboxConfig(**config)

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    async def sample_init(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        metadata: dict[str, str],
    ) -> dict[str, SandboxEnvironment]:
        settings = resolve_settings(config)
        client = ArbiterClient(settings.url)
        try:
            env = await cls.spawn(client, settings)
        except BaseException:
            await client.aclose()
            raise
        env._record()
        return env.environments()

    def environments(self) -> dict[str, SandboxEnvironment]:
        """This scenario's environments: "default" (the main service, or the one the config names)
        and, in a multi-service scenario, one per further service, named by it (`sandbox("target")`)."""
        envs: dict[str, SandboxEnvironment] = {"default": self}
        for name in self._services:
            if name != self._service and name not in envs:
                envs[name] = type(self)(self._client, self._settings, self.scenario_id, self._token, self._sat, service=name, primary=False)
        return envs

    @classmethod
    async def spawn(cls, client: ArbiterClient, settings: ArbiterSettings) -> "ArbiterSandboxEnvironment":
        cfg = settings.config
        deadline = anyio.current_time() + cfg.start_timeout
        attempt = 0
        while True:
            r = await client.send("POST", "/api/sat", settings.et, json={"template": cfg.template, "track": cfg.track})
            if r.status_code != 201:
                raise ArbiterApiError(r.status_code, *_err(r), f"SAT for {cfg.template}/{cfg.track}")
            sat = r.json()["sat"]
            # Not retried with the same SAT: a SAT is good for one spawn, so a refused spawn
            # (quota, rate) is tried again with a fresh one.
            r = await client.send("POST", "/api/spawn", sat, json={}, retry=False)
            if r.status_code == 202:
                break
            delay = retry_delay(r, attempt)
            if r.status_code in RETRYABLE and anyio.current_time() + delay < deadline:
                logger.info(f"arbiter: spawn refused ({r.status_code} {_err(r)[0]}), again in {delay:.1f}s")
                await anyio.sleep(delay)
                attempt += 1
                continue
            raise ArbiterApiError(r.status_code, *_err(r), f"spawn {cfg.template}/{cfg.track}")
        body = r.json()
        # accessToken outlives the SAT (valid until the scenario's TTL ends); a server from
        # before subject access returns none, and then the SAT is the only credential.
        env = cls(client, settings, body["scenarioId"], body.get("accessToken") or sat, sat)
        try:
            await env._wait_running(deadline)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await env._cancel()
            raise
        return env

    async def _wait_running(self, deadline: float) -> None:
        interval = 0.2
        status = "pending"
        while True:
            r = await self._client.send("GET", f"/api/scenarios/{self.scenario_id}", self._token)
            if r.status_code != 200:
                raise ArbiterApiError(r.status_code, *_err(r), f"status of scenario {self.scenario_id}")
            status = r.json().get("status", "")
            if status == "running":
                services = r.json().get("services") or []
                self._services = [str(x["name"]) for x in services if not x.get("main")]
                return
            if status in ENDED:
                raise RuntimeError(f"scenario {self.scenario_id} ended before it ran: {status} ({r.json()})")
            if anyio.current_time() > deadline:
                raise TimeoutError(f"scenario {self.scenario_id} not running after {self._settings.config.start_timeout}s (status {status})")
            await anyio.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    def _record(self) -> None:
        # Outside an eval (the conformance runner) there is no sample store or transcript.
        try:
            from inspect_ai.util import store

            store().set(STORE_KEY, self.scenario_id)
        except LookupError:
            pass
        try:
            from inspect_ai.log import transcript

            transcript().info({"arbiter": {"scenarioId": self.scenario_id, "page": self.page_url}}, source="arbiter")
        except LookupError:
            pass

    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        for env in environments.values():
            if isinstance(env, ArbiterSandboxEnvironment):
                await env.end(interrupted)

    async def end(self, interrupted: bool = False) -> None:
        """Completes the scenario (so it is scored and signed) when an operator token is at hand
        and the sample was not interrupted; otherwise cancels it. Never raises: a sample's
        result must not be lost to a cleanup that failed; the scenario's TTL ends it anyway."""
        if self._ended or not self._primary:
            return
        self._ended = True
        try:
            if self._settings.operator_token and not interrupted:
                await self._complete(self._settings.operator_token)
            else:
                await self._cancel()
        except Exception as ex:
            logger.warning(f"arbiter: could not end scenario {self.scenario_id}: {ex}")
        finally:
            await self._client.aclose()

    async def _complete(self, operator_token: str) -> None:
        # The way a scenario host does it: an operator obtains the completion token, and that
        # token, which is good for this one scenario only, completes it.
        sid = self.scenario_id
        r = await self._client.send("POST", f"/api/scenarios/{sid}/completion-token", operator_token)
        if r.status_code != 200:
            raise ArbiterApiError(r.status_code, *_err(r), f"completion token of {sid}")
        token = r.json()["token"]
        # `success`: the session ran to its end (an interrupted one is cancelled instead); whether
        # the subject solved anything is for the template's scorer to say, not the host.
        r = await self._client.send("POST", f"/api/scenarios/{sid}/complete", token, json={"outcome": "success", "submission": {}})
        # 409: no longer running (its TTL ended, or it was cancelled): nothing left to end.
        if r.status_code not in (202, 409):
            raise ArbiterApiError(r.status_code, *_err(r), f"complete {sid}")

    async def _cancel(self) -> None:
        sid = self.scenario_id
        # Cancel is granted to the SAT's subject and to operators; the access token may not be
        # accepted for it, and the SAT expires after ten minutes, so each is tried in turn.
        tokens = [t for t in (self._token, self._sat, self._settings.operator_token) if t]
        last = None
        for token in dict.fromkeys(tokens):
            r = await self._client.send("POST", f"/api/scenarios/{sid}/cancel", token)
            if r.status_code in (202, 409):
                return
            last = r
            if r.status_code not in (401, 403):
                break
        if last is not None:
            raise ArbiterApiError(last.status_code, *_err(last), f"cancel {sid}")

    # --- subject access -----------------------------------------------------------------------

    def _params(self, **params: str) -> dict[str, str]:
        if self._service:
            params["service"] = self._service
        return params

    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        # timeout_retry is not honoured: the timeout is enforced inside the scenario, which
        # kills the process tree, so a second try would only run the command again.
        body = exec_body(cmd, input, cwd, env, user, timeout, self._service)
        r = await self._client.send(
            "POST",
            f"/api/scenarios/{self.scenario_id}/exec",
            self._token,
            json=body,
            # the server's timeout fires first; ours only catches a host that stopped answering
            read_timeout=None if timeout is None else timeout + 60.0,
        )
        if r.status_code != 200:
            refused = exec_error(r.status_code, error_body(r), user, cmd)
            if isinstance(refused, ExecResult):
                return refused
            raise refused
        return exec_result(r.json(), cmd, timeout)

    async def write_file(self, file: str, contents: str | bytes) -> None:
        data = contents.encode("utf-8") if isinstance(contents, str) else bytes(contents)
        r = await self._client.send(
            "PUT",
            f"/api/scenarios/{self.scenario_id}/files",
            self._token,
            params=self._params(path=file),
            content=data,
            headers={"content-type": "application/octet-stream"},
            read_timeout=600.0,
        )
        if r.status_code not in (200, 201, 204):
            raise file_error(r.status_code, error_body(r), file, "write_file")

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    async def read_file(self, file: str, text: bool = True) -> Union[str, bytes]:
        limit = SandboxEnvironmentLimits.MAX_READ_FILE_SIZE
        r = await self._client.send(
            "GET",
            f"/api/scenarios/{self.scenario_id}/files",
            self._token,
            params=self._params(path=file),
            stream=True,
            read_timeout=600.0,
        )
        try:
            if r.status_code != 200:
                await r.aread()
                raise file_error(r.status_code, error_body(r), file, "read_file")
            # Inspect's limit may be below Arbiter's 100 MiB: stop reading as soon as it is passed.
            length = r.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise read_file_limit_error()
            data = bytearray()
            async for chunk in r.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise read_file_limit_error()
        finally:
            await r.aclose()
        return data.decode("utf-8") if text else bytes(data)

    # --- connection ---------------------------------------------------------------------------

    @property
    def page_url(self) -> str:
        return f"{self._settings.url}/scenarios/{self.scenario_id}"

    async def connection(self, *, user: str | None = None) -> SandboxConnection:
        if self._ended:
            raise ConnectionError(f"scenario {self.scenario_id} has ended")
        # There is no shell command into an Arbiter scenario (no docker exec from outside):
        # the way in is the scenario's page, whose terminal is authenticated by the subject.
        return SandboxConnection(type="arbiter", command=self.page_url, container=self.scenario_id)


def _err(r: Any) -> tuple[str, str]:
    e = error_body(r)
    return e.code, e.message
