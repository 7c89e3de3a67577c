// rest/: the REST gateway under /api/coordination, its routes read from the proto annotations.
// Imports src/core, src/gen and codec/ (test/architecture/walls.test.ts).
import { type DescField, type DescMethod, type DescService, getOption } from '@bufbuild/protobuf';
import { http } from '../../gen/google/api/annotations_pb.js';
import type { HttpRule } from '../../gen/google/api/http_pb.js';

/** One REST binding of an RPC, as its `google.api.http` option declares it. */
export interface RestRoute {
  readonly method: DescMethod;
  /** `GET`, `POST`, … */
  readonly verb: string;
  /** The path template as written in the proto, e.g. `/api/coordination/tasks/{id}/cancel`. */
  readonly template: string;
  /** `undefined`: no body; `'*'`: the body is the request; otherwise the request field it fills. */
  readonly body: '*' | DescField | undefined;
  /** The response field sent alone, or `undefined` for the whole response. */
  readonly responseBody: DescField | undefined;
  /** Matches a path; returns its variables (field path → decoded value), or undefined. */
  match(path: string): Map<string, string> | undefined;
  /** Literal segments: among routes matching one path, the most literal wins. */
  readonly literals: number;
}

const fieldByName = (fields: readonly DescField[], name: string, where: string): DescField => {
  const field = fields.find((f) => f.name === name);
  if (field === undefined) throw new Error(`google.api.http of ${where} names unknown field ${name}`);
  return field;
};

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Compiles a google.api.http path template (`/v1/{name=shelves/*}/books/{id}:verb`) to a
 * matcher. `*` is one segment, `**` the rest of the path; a variable without a pattern is `*`.
 */
function compileTemplate(template: string): {
  match(path: string): Map<string, string> | undefined;
  literals: number;
} {
  const variables: string[] = [];
  let literals = 0;
  const segment = (s: string): string => {
    if (s === '**') return '(?:.+)';
    if (s === '*') return '[^/]+';
    literals++;
    return escapeRegExp(s);
  };
  let source = '';
  for (const part of template.split(/(\{[^}]*\})/)) {
    if (part.startsWith('{')) {
      const [name = '', pattern = '*'] = part.slice(1, -1).split('=');
      variables.push(name);
      source += `(${pattern.split('/').map(segment).join('/')})`;
    } else {
      source += part
        .split('/')
        .map((s) => (s === '' ? '' : s.split(':').map(segment).join(':')))
        .join('/');
    }
  }
  const regex = new RegExp(`^${source}$`);
  return {
    literals,
    match(path) {
      const m = regex.exec(path);
      if (m === null) return undefined;
      const vars = new Map<string, string>();
      for (const [i, name] of variables.entries()) {
        const raw = m[i + 1] ?? '';
        // Multi-segment values keep their slashes: decode each segment on its own.
        try {
          vars.set(name, raw.split('/').map(decodeURIComponent).join('/'));
        } catch {
          return undefined;
        }
      }
      return vars;
    },
  };
}

function bindingsOf(rule: HttpRule): HttpRule[] {
  return [rule, ...rule.additionalBindings.flatMap(bindingsOf)];
}

/**
 * The REST route table, read at runtime from the services' `google.api.http` options, so the
 * proto stays the one description of the API. Methods without the option have no REST route.
 */
export function restRoutes(services: readonly DescService[]): RestRoute[] {
  const routes: RestRoute[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      for (const rule of bindingsOf(getOption(method, http))) {
        const p = rule.pattern;
        if (p.case === undefined) continue;
        const verb = (p.case === 'custom' ? p.value.kind : p.case).toUpperCase();
        const template = p.case === 'custom' ? p.value.path : p.value;
        const where = `${service.typeName}.${method.name}`;
        const body =
          rule.body === ''
            ? undefined
            : rule.body === '*'
              ? '*'
              : fieldByName(method.input.fields, rule.body, where);
        const responseBody =
          rule.responseBody === '' ? undefined : fieldByName(method.output.fields, rule.responseBody, where);
        routes.push({ method, verb, template, body, responseBody, ...compileTemplate(template) });
      }
    }
  }
  return routes;
}

/** A route that matched a path, with the path's variables. */
export interface RouteMatch {
  readonly route: RestRoute;
  readonly vars: Map<string, string>;
}

/** Every route whose template matches `path`, whatever its verb. */
export function matchingRoutes(routes: readonly RestRoute[], path: string): RouteMatch[] {
  const matched: RouteMatch[] = [];
  for (const route of routes) {
    const vars = route.match(path);
    if (vars !== undefined) matched.push({ route, vars });
  }
  return matched;
}

/** Among matches, the one for `verb` with the most literal segments; undefined if none has it. */
export function bestForVerb(matched: readonly RouteMatch[], verb: string): RouteMatch | undefined {
  let best: RouteMatch | undefined;
  for (const m of matched) {
    if (m.route.verb === verb && (best === undefined || m.route.literals > best.route.literals)) best = m;
  }
  return best;
}

/** The path as the gateway routes it: without a trailing slash. */
export const restPath = (pathname: string): string =>
  pathname.length > 1 ? pathname.replace(/\/$/, '') : pathname;
