// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Below this much free space a filesystem is named in a failure's message. */
const LOW_BYTES = 64 * 1024 * 1024;

/**
 * Where git failed for want of space it often says only "unable to write file x" (a checkout) and
 * keeps errno to itself: this names each filesystem holding one of `paths` (or its nearest
 * existing parent) that is nearly full, e.g. "; /var has only 120 KiB free", or '' when none is.
 */
export function lowSpaceNote(paths: readonly string[]): string {
  const notes = new Set<string>();
  for (const path of paths) {
    let at = path;
    while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
    try {
      const { bavail, bsize } = statfsSync(at);
      const free = Number(bavail) * Number(bsize);
      if (free < LOW_BYTES)
        notes.add(`; the filesystem of ${at} has only ${Math.floor(free / 1024)} KiB free`);
    } catch {
      // No statfs here (or the path vanished): nothing to add.
    }
  }
  return [...notes].join('');
}
