import * as fc from 'fast-check';
import { describeOp, opArb, specObject } from './coordinator-ops.js';
import { type Expectation, labelled } from './fuzz-run.js';
import type { HttpCase, HttpRequest } from './http-send.js';
import { jsonMutationArb, jsonText } from './json-mutations.js';
import type { Op } from './task-model.js';

const API = '/api/coordination';
const JSON_HEADERS = { 'content-type': 'application/json' };
const task = (id: string, rest = '') => `${API}/tasks/${encodeURIComponent(id)}${rest}`;

/** The seed's REST route for an op, with its JSON body; the REST words for statuses. */
function restRequest(op: Op): { method: string; path: string; body?: Record<string, unknown> } {
  switch (op.kind) {
    case 'add':
      return { method: 'POST', path: `${API}/tasks`, body: specObject(op.spec) };
    case 'batch':
      return { method: 'POST', path: `${API}/tasks/batch`, body: { tasks: op.specs.map(specObject) } };
    case 'cancel':
      return { method: 'POST', path: task(op.id, '/cancel'), body: { reason: 'fuzz' } };
    case 'retry':
      return { method: 'POST', path: task(op.id, '/retry'), body: {} };
    case 'delete':
      return { method: 'DELETE', path: task(op.id) };
    case 'get':
      return { method: 'GET', path: task(op.id) };
    case 'purge':
      return {
        method: 'POST',
        path: `${API}/tasks/purge`,
        body: {
          finishedBefore: op.before === 'past' ? '1970-01-02T00:00:00Z' : '2100-01-01T00:00:00Z',
          status: [...op.statuses],
        },
      };
    case 'list': {
      const query = new URLSearchParams(op.statuses.map((s): [string, string] => ['status', s]));
      query.set('limit', String(op.limit));
      return { method: 'GET', path: `${API}/tasks?${query}` };
    }
    case 'read':
      return { method: 'GET', path: `${API}/${op.what}` };
    default:
      return { method: 'POST', path: `${API}/${op.kind}`, body: {} };
  }
}

interface RequestMutation {
  readonly label: string;
  readonly expect: Expectation;
  readonly apply: (request: HttpRequest) => HttpRequest;
}

const unchanged: RequestMutation = { label: '', expect: 'model', apply: (r) => r };

/** What can go wrong around a body, whatever the route: method, path, headers. */
const envelopeMutationArb = (op: Op): fc.Arbitrary<RequestMutation> =>
  fc.oneof(
    // PUT and PATCH have no route anywhere; the other verbs may land on another route (`any`).
    fc.constantFrom('PUT', 'PATCH', 'TRACE').map((method) => ({
      label: `method ${method}`,
      expect: 'reject' as const,
      apply: (r: HttpRequest) => ({ ...r, method }),
    })),
    fc.constantFrom('GET', 'POST', 'DELETE', 'OPTIONS', 'HEAD').map((method) => ({
      label: `method ${method}`,
      expect: 'any' as const,
      apply: ({ body, ...r }: HttpRequest): HttpRequest =>
        method === 'GET' || method === 'HEAD'
          ? { ...r, method }
          : { ...r, method, ...(body === undefined ? {} : { body }) },
    })),
    fc
      .constantFrom(
        (p: string) => p.replace(/(\?|$)/, '/zz/zz$1'),
        (p: string) => p.replace('/api/', '/api//'),
        (p: string) => p.replace('/coordination', '/Coordination'),
        (p: string) => p.replace(/(\?|$)/, '%zz$1'),
        (p: string) => p.replace('/api/coordination', '/api/coordination/..%2F..'),
      )
      .map((change) => ({
        label: `path ${change('/api/coordination/x')}`,
        expect: 'reject' as const,
        apply: (r: HttpRequest) => ({ ...r, path: change(r.path) }),
      })),
    fc.constant({
      label: 'trailing slash',
      expect: 'ignorable' as const,
      apply: (r: HttpRequest) => ({ ...r, path: r.path.replace(/(\?|$)/, '/$1') }),
    }),
    fc
      .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x')
      .map((type) => ({
        label: `content-type ${type}`,
        // A body-less request may ignore its content type.
        expect:
          op.kind === 'get' || op.kind === 'list' || op.kind === 'read' || op.kind === 'delete'
            ? ('ignorable' as const)
            : ('reject' as const),
        apply: (r: HttpRequest) => ({ ...r, headers: { ...r.headers, 'content-type': type } }),
      })),
    fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON').map((type) => ({
      label: `content-type ${type}`,
      expect: 'ignorable' as const,
      apply: (r: HttpRequest) => ({ ...r, headers: { ...r.headers, 'content-type': type } }),
    })),
    fc.constant({
      label: 'content-encoding gzip on a plain body',
      expect:
        op.kind === 'get' || op.kind === 'list' || op.kind === 'read' || op.kind === 'delete'
          ? ('ignorable' as const)
          : ('reject' as const),
      apply: (r: HttpRequest) => ({ ...r, headers: { ...r.headers, 'content-encoding': 'gzip' } }),
    }),
    fc.constant({
      label: 'cross-origin write',
      expect:
        op.kind === 'get' || op.kind === 'list' || op.kind === 'read'
          ? ('ignorable' as const)
          : ('reject' as const),
      apply: (r: HttpRequest) => ({ ...r, headers: { ...r.headers, origin: 'http://evil.example' } }),
    }),
  );

/** Query parameters a read may get wrong: refused or ignored, never a 5xx, never a change. */
const queryMutationArb: fc.Arbitrary<RequestMutation> = fc
  .constantFrom(
    'limit=abc',
    'limit=-1',
    'limit=1e3',
    'limit=99999999999999999999',
    'status=bogus',
    'status=TASK_STATUS_BOGUS',
    'status=99',
    'page_token=%%%',
    'page_token=garbage',
    'page_token=YWZ0ZXI6LTE',
    'worker_id=%00',
    'bogus=1',
    'limit=1&limit=2',
  )
  .map((query) => ({
    label: `query ${query}`,
    expect: 'ignorable' as const,
    apply: (r: HttpRequest) => ({ ...r, path: `${r.path}${r.path.includes('?') ? '&' : '?'}${query}` }),
  }));

/** A body (or query) `id` other than the path's: refused, or ignored in favour of the path. */
const contradictionArb = (op: Op): fc.Arbitrary<RequestMutation> | undefined => {
  if (op.kind !== 'cancel' && op.kind !== 'retry' && op.kind !== 'get' && op.kind !== 'delete')
    return undefined;
  return fc.constant({
    label: 'an id contradicting the path',
    expect: 'ignorable' as const,
    apply: (r: HttpRequest) =>
      r.body === undefined
        ? { ...r, path: `${r.path}?id=${encodeURIComponent(`${op.id}-other`)}` }
        : { ...r, body: jsonText({ ...(JSON.parse(r.body) as object), id: `${op.id}-other` }) },
  });
};

const bodyMutationArb = (body: Record<string, unknown>): fc.Arbitrary<RequestMutation> =>
  jsonMutationArb(body).map((m) => ({
    label: m.label,
    expect: m.expect,
    apply: (r: HttpRequest) => ({
      ...r,
      body:
        m.text === undefined
          ? jsonText(m.object?.(body) ?? body)
          : m.text(jsonText(m.object?.(body) ?? body)),
    }),
  }));

/** A REST case: an op on its route, as is (most often) or mutated once. */
export const restCaseArb: fc.Arbitrary<HttpCase> = opArb.chain((op) => {
  const base = restRequest(op);
  const request: HttpRequest = {
    method: base.method,
    path: base.path,
    headers: base.body === undefined ? {} : JSON_HEADERS,
    ...(base.body === undefined ? {} : { body: jsonText(base.body) }),
  };
  const mutations: { weight: number; arbitrary: fc.Arbitrary<RequestMutation> }[] = [
    { weight: 6, arbitrary: fc.constant(unchanged) },
    { weight: 2, arbitrary: envelopeMutationArb(op) },
  ];
  if (base.body !== undefined) mutations.push({ weight: 3, arbitrary: bodyMutationArb(base.body) });
  if (base.method === 'GET') mutations.push({ weight: 2, arbitrary: queryMutationArb });
  const contradiction = contradictionArb(op);
  if (contradiction !== undefined) mutations.push({ weight: 1, arbitrary: contradiction });
  return fc.oneof(...mutations).map((m) =>
    labelled({
      op,
      expect: m.expect,
      label: `${describeOp(op)}${m.label === '' ? '' : `, ${m.label}`}`,
      request: m.apply(request),
    }),
  );
});
