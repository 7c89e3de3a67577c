import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startCli } from '../durability/harness.js';

/** dist/src/cli/main.js, next to this file's compiled form in dist/test/cli. */
export const BATON = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** What one run of the CLI printed and how it exited. */
export interface BatonRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI process still running (watch, serve): its output so far, and its end. */
export interface BatonProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly done: Promise<BatonRun>;
}

/**
 * Spawns `node dist/src/cli/main.js ...args` without blocking this process's event loop (the
 * server under test runs in it). BATON_URL is cleared unless `env` sets it, so a developer's own
 * does not leak into the specs.
 */
export function startBaton(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): BatonProcess {
  return startProcess(process.execPath, [BATON, ...args], env, input);
}

/** Spawns any command with the same environment rules (`script` runs the CLI on a terminal). */
export function startProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): BatonProcess {
  const child = spawn(command, args, {
    env: { ...process.env, BATON_URL: undefined, BATON_TOKEN: undefined, NO_COLOR: '1', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin?.end(input);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const done = new Promise<BatonRun>((finish) => {
    child.once('close', (code) => finish({ code, stdout: out, stderr: err }));
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** Runs the CLI to its end. */
export function baton(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): Promise<BatonRun> {
  return startBaton(args, env, input).done;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
export type Json = any;

/** GET a REST route of the coordinator at `url`, as JSON: what the CLI's --json is compared with. */
export const restGet = async (url: string, path: string): Promise<Json> =>
  (await fetch(`${url}/api/coordination${path}`)).json();

/** A `baton serve` child process, listening on port 0, and the URL it printed. */
export interface ServedBaton {
  readonly url: string;
  readonly server: ServerProcess;
}

/** Runs `baton serve --port 0 ...args` for real and resolves once it listens. */
export async function serveBaton(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ServedBaton> {
  const server = await startCli(['--port', '0', ...args], env);
  const url = /listening on (https?:\/\/\S+)/.exec(server.output())?.[1];
  if (url === undefined) throw new Error(`no URL in:\n${server.output()}`);
  return { url, server };
}
