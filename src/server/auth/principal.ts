// auth/: who may call what: tokens, roles, and the one table of roles by route.
// Imports nothing of Baton's but auth/ itself (test/architecture/walls.test.ts).
import { type ContextValues, createContextKey, createContextValues } from '@connectrpc/connect';
import type { Principal } from './policy.js';

/** The caller of a handler, when the server checks tokens: read with `context.values.get(PRINCIPAL)`. */
export const PRINCIPAL = createContextKey<Principal | undefined>(undefined, {
  description: 'baton principal',
});

const byRequest = new WeakMap<object, Principal>();

/** The auth gate records who a request is from, for the handlers further down. */
export const attachPrincipal = (request: object, principal: Principal): void => {
  byRequest.set(request, principal);
};

export const principalOf = (request: object): Principal | undefined => byRequest.get(request);

/** A handler context's values with the request's principal: connect-node's `contextValues` hook. */
export const principalValues = (request: object): ContextValues => {
  const values = createContextValues();
  const principal = byRequest.get(request);
  if (principal !== undefined) values.set(PRINCIPAL, principal);
  return values;
};
