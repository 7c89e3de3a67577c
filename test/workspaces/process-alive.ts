import { readFileSync } from 'node:fs';

/** Running, and not a zombie waiting for an init that may never reap it (containers). Linux only. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
