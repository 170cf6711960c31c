// The operator audit log as an app service for the routes that carry out operator actions
// (cancel, force-complete, sweep). A cancel or a sweep is recorded before it is carried out, so
// it never happens unrecorded: if the log cannot be written (or its anchor in Temporal cannot be
// moved over the new entry), the request fails instead.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Client } from '@temporalio/client';
import { recordOperatorAction, type OperatorRecord } from '../../infra/operator-audit.ts';

declare module 'fastify' {
  interface FastifyInstance {
    operatorAudit(record: OperatorRecord): Promise<void>;
  }
}

export default fp(async function operatorAudit(app: FastifyInstance, opts: { storageDir: string; temporal: Client | undefined }) {
  app.decorate('operatorAudit', async (record: OperatorRecord): Promise<void> => {
    await recordOperatorAction({ storageDir: opts.storageDir, temporal: opts.temporal }, record);
  });
}, { name: 'arbiter-operator-audit' });
