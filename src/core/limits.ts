import { BatonError, type BatonErrorCode, type BatonErrorDetails } from './errors.js';

/**
 * Input limits the coordinator holds every request to. Each refusal names its limit (the
 * `baton serve` flag that sets it) and its value, and changes nothing (docs/security.md).
 */
export interface InputLimits {
  /** Tasks in one addTasks batch. */
  readonly maxBatchTasks: number;
  /** Tasks in the graph, whatever their status (memory: ~500 bytes each). */
  readonly maxTasks: number;
  /** One task's metadata as JSON, in UTF-8 bytes. */
  readonly maxMetadataBytes: number;
  /** How deeply one task's metadata nests (objects and arrays). */
  readonly maxMetadataDepth: number;
  /** A task id, in UTF-16 code units: every index, event and URL carries it. */
  readonly maxIdLength: number;
  /** A task's category, in UTF-16 code units. */
  readonly maxCategoryLength: number;
}

export const DEFAULT_LIMITS: InputLimits = {
  maxBatchTasks: 10_000,
  maxTasks: 2_000_000,
  maxMetadataBytes: 64 * 1024,
  maxMetadataDepth: 32,
  maxIdLength: 256,
  maxCategoryLength: 256,
};

/** The `baton serve` flag of each limit: the name a refusal gives. */
export const LIMIT_FLAGS: Readonly<Record<keyof InputLimits, string>> = {
  maxBatchTasks: 'max-batch-tasks',
  maxTasks: 'max-tasks',
  maxMetadataBytes: 'max-metadata-bytes',
  maxMetadataDepth: 'max-metadata-depth',
  maxIdLength: 'max-id-length',
  maxCategoryLength: 'max-category-length',
};

/**
 * A refusal naming the limit by its `baton serve` flag: `<what>: over the limit --max-batch-tasks
 * (10000)`, with `data: {limit, value}`. The server's own limits (request bytes) use it too.
 */
export function limitRefusal(
  flag: string,
  value: number,
  what: string,
  at: string | Omit<BatonErrorDetails, 'data'>,
  code: BatonErrorCode = 'invalid-argument',
): BatonError {
  return new BatonError(code, `${what}: over the limit --${flag} (${value})`, {
    ...(typeof at === 'string' ? { field: at } : at),
    data: { limit: flag, value },
  });
}

/** A refusal naming one of the coordinator's input limits. */
export const overLimit = <K extends keyof InputLimits>(
  limit: K,
  limits: Pick<InputLimits, K>,
  what: string,
  at: string | Omit<BatonErrorDetails, 'data'>,
  code: BatonErrorCode = 'invalid-argument',
): BatonError => limitRefusal(LIMIT_FLAGS[limit], limits[limit], what, at, code);

/** How deeply a JSON value nests, stopping once past `max` (a hostile value may nest far). */
function depthOf(value: unknown, max: number, depth = 0): number {
  if (depth > max || typeof value !== 'object' || value === null) return depth;
  let deepest = depth + 1;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, depthOf(v, max, depth + 1));
    if (deepest > max) break;
  }
  return deepest;
}

const encoder = new TextEncoder();

/** Refuses metadata deeper or larger than the limits allow. */
export function checkMetadata(metadata: unknown, limits: InputLimits, field: string): void {
  if (metadata === undefined || metadata === null) return;
  const depth = depthOf(metadata, limits.maxMetadataDepth);
  if (depth > limits.maxMetadataDepth)
    throw overLimit(
      'maxMetadataDepth',
      limits,
      `${field} nests more than ${limits.maxMetadataDepth} deep`,
      field,
    );
  let text: string;
  try {
    text = JSON.stringify(metadata);
  } catch {
    return; // not JSON: the spec's own check names it
  }
  const bytes = encoder.encode(text).byteLength;
  if (bytes > limits.maxMetadataBytes)
    throw overLimit('maxMetadataBytes', limits, `${field} is ${bytes} bytes of JSON`, field);
}
