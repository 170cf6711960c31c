// POST /api/billing/receipts: billing's signed receipt grants a tenant a plan. The receipt
// authenticates itself (signed with BILLING_HMAC_SECRET); every accepted one is recorded in the
// tenant's entity and appended to the hash-chained billing log.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../../infra/config.ts';
import { ForbiddenError } from '../../lib/errors.ts';
import type { Plans } from '../../infra/plans.ts';
import { verifyToken } from '../../infra/tokens.ts';
import { ErrorBody } from '../schemas.ts';

const ReceiptRequest = Type.Object({ receipt: Type.String({ minLength: 16, maxLength: 4096 }) }, { additionalProperties: false });
const ReceiptResponse = Type.Object({ tenant: Type.String(), plan: Type.String(), source: Type.String(), receiptId: Type.String() });

const billingRoutes: FastifyPluginAsyncTypebox<{ config: Config; plans: Plans }> = async (app, opts) => {
  app.post('/api/billing/receipts', {
    schema: { body: ReceiptRequest, response: { 201: ReceiptResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 503: ErrorBody } },
  }, async (request, reply) => {
    const ring = opts.config.secrets.BILLING_HMAC_SECRET;
    if (!ring) throw new ForbiddenError('billing receipts are not accepted here (BILLING_HMAC_SECRET is not set)', 'billing_disabled');
    const { claims } = await verifyToken('receipt', request.body.receipt, ring);
    if (!opts.plans[claims.plan]) throw new ForbiddenError(`plan "${claims.plan}" does not exist`, 'unknown_plan');
    const issuedAt = new Date(claims.iat * 1000).toISOString();
    const resolved = await app.entitlements.record(claims.tenant, { plan: claims.plan, source: 'receipt', reference: claims.jti, issuedAt });
    await app.entitlements.logReceipt({ token: request.body.receipt, jti: claims.jti, tenant: claims.tenant, plan: claims.plan, issuedAt });
    request.log.info({ tenant: claims.tenant, plan: claims.plan, receiptId: claims.jti }, 'billing receipt accepted');
    return reply.status(201).send({ tenant: claims.tenant, plan: resolved.plan, source: resolved.source, receiptId: claims.jti });
  });
};
export default billingRoutes;
