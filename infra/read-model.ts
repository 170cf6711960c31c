// A workflow's read model, from its memo (contract/queues.ts MEMO): one DescribeWorkflowExecution,
// answered by the server alone, so a reader never waits on (or competes for) a worker.
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';

export interface MemoRead<T> {
  /** undefined when the workflow keeps no such read model (started before it did, or not yet run) */
  value: T | undefined;
  description: WorkflowExecutionDescription;
}

/** Throws WorkflowNotFoundError when there is no such workflow. */
export async function readMemo<T>(client: Client, workflowId: string, key: string): Promise<MemoRead<T>> {
  const description = await client.workflow.getHandle(workflowId).describe();
  return { value: description.memo?.[key] as T | undefined, description };
}

/**
 * The read model, or for a workflow started before it kept one, the answer to its query (which
 * needs a worker). Throws WorkflowNotFoundError when there is no such workflow.
 */
export async function readState<T>(client: Client, workflowId: string, key: string, query: QueryDefinition<T>): Promise<T> {
  return (await readMemo<T>(client, workflowId, key)).value ?? await client.workflow.getHandle(workflowId).query(query);
}
