/** JSON over plain HTTP, as curl or a script would speak to the server: for the REST and Connect JSON specs. */

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
export type Json = any;

/** POSTs `body` (a JSON text, sent as is) to `url + path`: the status and the parsed answer. */
export async function postJson(
  url: string,
  path: string,
  body: string,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, body: await response.json() };
}

/** A REST call under /api/coordination: GET without a body, POST of `body` as JSON with one. */
export async function rest(url: string, path: string, body?: unknown): Promise<Json> {
  if (body !== undefined) return (await postJson(url, `/api/coordination${path}`, JSON.stringify(body))).body;
  return (await fetch(`${url}/api/coordination${path}`)).json();
}

/** Any REST call under /api/coordination, `body` sent as JSON when given: the status and the answer. */
export async function restCall(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}/api/coordination${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}
