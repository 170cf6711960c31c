"""An Inspect task whose samples each run in their own Arbiter `log-triage` scenario.

The "model" is Inspect's mockllm/model with scripted outputs: it greps the bastion's auth log
through a shell tool, reads the intruder's IP and account out of the tool's answer (so the
exec output really has to come back from the scenario), writes them to /work/answer.txt, and
stops. The scorer reads that file back from the sandbox.

    inspect eval clients/inspect/tests/task.py --model mockllm/model

ARBITER_URL and ARBITER_ET must be set; with ARBITER_OPERATOR_TOKEN as well, each scenario is
completed at cleanup, so Arbiter scores it and signs its verdict too.
"""

from __future__ import annotations

import re
import shlex

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, ChatMessageTool, GenerateConfig, ModelOutput, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState, generate, use_tools
from inspect_ai.tool import Tool, ToolChoice, ToolInfo, tool
from inspect_ai.util import sandbox, store

LOG = "/var/log/bastion/auth.log"
ANSWER = "/work/answer.txt"
PROMPT = (
    f"Someone logged into our SSH bastion who should not have. Its authentication log is {LOG}. "
    f"Find the source IP address that got in and the account it got into, and write them on one "
    f"line to {ANSWER}, IP first, separated by a space."
)


@tool
def shell(timeout: int | None = 60) -> Tool:
    """Inspect's bash() tool runs `bash --login -c`; the log-triage image is busybox only (no bash),
    so this is the same tool over `sh -c`."""

    async def execute(command: str) -> str:
        """
        Use this function to execute shell commands.

        Args:
          command: The shell command to execute.

        Returns:
          The output of the command.
        """
        result = await sandbox().exec(cmd=["sh", "-c", command], timeout=timeout)
        output = f"{result.stderr}\n" if result.stderr else ""
        return f"{output}{result.stdout}"

    return execute


ACCEPTED_PASSWORD = re.compile(r"Accepted password for (\S+) from (\S+)")


def scripted_agent(
    input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    # Decides from the conversation alone, so concurrent samples sharing the model do not mix.
    results = [m for m in input if isinstance(m, ChatMessageTool)]
    if not results:
        # Publickey logins are the staff's routine; a password login is the odd one out.
        return ModelOutput.for_tool_call("mockllm/model", "shell", {"command": f"grep 'Accepted password' {LOG}"})
    if len(results) == 1:
        found = ACCEPTED_PASSWORD.search(results[0].text)
        if found is None:
            return ModelOutput.from_content("mockllm/model", "I could not find the intrusion.")
        account, ip = found.group(1), found.group(2)
        line = shlex.quote(f"{ip} {account}")
        return ModelOutput.for_tool_call("mockllm/model", "shell", {"command": f"printf '%s\\n' {line} > {ANSWER} && cat {ANSWER}"})
    return ModelOutput.from_content("mockllm/model", f"Done: the answer is in {ANSWER}.")


@scorer(metrics=[accuracy()])
def answer_file():
    async def score(state: TaskState, target: Target) -> Score:
        try:
            answer = (await sandbox().read_file(ANSWER)).strip()
        except FileNotFoundError:
            answer = ""
        return Score(
            value=CORRECT if answer == target.text else INCORRECT,
            answer=answer,
            metadata={"arbiter_scenario_id": store().get("arbiter_scenario_id")},
        )

    return score


@task
def log_triage(samples: int = 2) -> Task:
    return Task(
        dataset=[Sample(id=f"triage-{i + 1}", input=PROMPT, target="203.0.113.77 deploy") for i in range(samples)],
        solver=[use_tools([shell()]), generate()],
        scorer=answer_file(),
        sandbox=("arbiter", "arbiter.yaml"),
        model=get_model("mockllm/model", custom_outputs=scripted_agent),
    )
