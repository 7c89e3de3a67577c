import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small tmpfs of its own, for running out of space for real. */
export interface TinyDisk {
  readonly path: string;
  /** Grows (or shrinks) the filesystem in place; what is on it stays. */
  resize(bytes: number): void;
  /** Writes `name` until the filesystem is full; returns its path. */
  fill(name: string): string;
  /** Unmounts and removes the mount point. */
  remove(): void;
}

/**
 * Mounts a tmpfs of `bytes` on a fresh directory, or answers why it cannot (not root, no mount):
 * the caller skips with that reason printed.
 */
export function mountTinyDisk(bytes: number): TinyDisk | string {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const path = mkdtempSync(join(tmpdir(), 'baton-tiny-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', path], { stdio: 'pipe' });
  } catch (error) {
    rmdirSync(path);
    return `mount -t tmpfs failed: ${(error as Error).message}`;
  }
  return {
    path,
    resize: (size) => {
      execFileSync('mount', ['-o', `remount,size=${size}`, path], { stdio: 'pipe' });
    },
    fill: (name) => {
      const file = join(path, name);
      const { bavail, bsize } = statfsSync(path);
      try {
        writeFileSync(file, Buffer.alloc(Number(bavail) * Number(bsize)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
      return file;
    },
    remove: () => {
      execFileSync('umount', [path], { stdio: 'pipe' });
      rmdirSync(path);
    },
  };
}
