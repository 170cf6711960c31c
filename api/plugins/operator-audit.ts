// The operator audit log as an app service for the routes that carry out operator actions
// (cancel, force-complete, sweep). A cancel or a sweep is recorded before it is carried out, so
// it never happens unrecorded: if the log cannot be written, the request fails instead.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { recordOperatorAction, type OperatorRecord } from '../../infra/operator-audit.ts';

declare module 'fastify' {
  interface FastifyInstance {
    operatorAudit(record: OperatorRecord): Promise<void>;
  }
}

export default fp(async function operatorAudit(app: FastifyInstance, opts: { storageDir: string }) {
  app.decorate('operatorAudit', async (record: OperatorRecord): Promise<void> => {
    await recordOperatorAction(opts.storageDir, record);
  });
}, { name: 'arbiter-operator-audit' });
