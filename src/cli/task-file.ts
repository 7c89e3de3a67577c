import { readFileSync } from 'node:fs';
import type { JsonObject } from '@bufbuild/protobuf';
import { parse as parseYaml } from 'yaml';
import type { NewTask } from '../client/admin.js';
import { UsageError } from './usage-error.js';

/** The fields a task in a file may have; `max_attempts` is read as `maxAttempts` (proto's name). */
const FIELDS = ['id', 'deps', 'priority', 'category', 'metadata', 'maxAttempts', 'paths', 'land'] as const;

/**
 * The tasks of a JSON or YAML file (YAML 1.2 reads JSON too): a list of tasks, or an object
 * whose `tasks` is one. `-` reads stdin. Each task's fields are checked for their type, and an
 * unknown field is refused, so that a typo (`dependencies:`) is not silently dropped; the rules
 * of ids, deps and globs are the coordinator's, which refuses the whole batch, adding nothing.
 */
export function readTaskFile(path: string): NewTask[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new UsageError(
      `--file ${path}: not valid JSON or YAML: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  return tasksOf(data, path);
}

/** The tasks of a parsed file; a UsageError naming the file and the field otherwise. */
export function tasksOf(data: unknown, source: string): NewTask[] {
  const list = isObject(data) && Array.isArray(data.tasks) ? data.tasks : data;
  if (!Array.isArray(list))
    throw new UsageError(`${source}: must be a list of tasks, or an object whose "tasks" is one`);
  if (list.length === 0) throw new UsageError(`${source}: has no tasks`);
  return list.map((entry, i) => taskOf(entry, `${source}: tasks[${i}]`));
}

function taskOf(entry: unknown, where: string): NewTask {
  if (!isObject(entry)) throw new UsageError(`${where} must be an object with at least an "id"`);
  const raw: Record<string, unknown> = { ...entry };
  if ('max_attempts' in raw) {
    raw.maxAttempts = raw.max_attempts;
    delete raw.max_attempts;
  }
  const unknown = Object.keys(raw).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined)
    throw new UsageError(`${where} has an unknown field "${unknown}" (known: ${FIELDS.join(', ')})`);
  const task: Record<string, unknown> = { id: text(raw.id, `${where}.id`) };
  if (raw.deps !== undefined) task.deps = strings(raw.deps, `${where}.deps`);
  if (raw.paths !== undefined) task.paths = strings(raw.paths, `${where}.paths`);
  if (raw.category !== undefined) task.category = text(raw.category, `${where}.category`, true);
  if (raw.priority !== undefined) {
    if (!Number.isSafeInteger(raw.priority)) throw new UsageError(`${where}.priority must be a whole number`);
    task.priority = raw.priority;
  }
  if (raw.maxAttempts !== undefined) {
    if (!Number.isSafeInteger(raw.maxAttempts) || (raw.maxAttempts as number) < 1)
      throw new UsageError(`${where}.maxAttempts must be a whole number above 0`);
    task.maxAttempts = raw.maxAttempts;
  }
  if (raw.metadata !== undefined) {
    if (!isObject(raw.metadata)) throw new UsageError(`${where}.metadata must be an object`);
    task.metadata = raw.metadata as JsonObject;
  }
  if (raw.land !== undefined) {
    if (typeof raw.land !== 'boolean') throw new UsageError(`${where}.land must be true or false`);
    task.land = raw.land;
  }
  return task as unknown as NewTask;
}

function text(value: unknown, where: string, emptyOk = false): string {
  if (typeof value !== 'string' || (!emptyOk && value === ''))
    throw new UsageError(`${where} must be a${emptyOk ? '' : ' non-empty'} string`);
  return value;
}

function strings(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new UsageError(`${where} must be a list of strings`);
  return value as string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
