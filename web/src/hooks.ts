// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useEffect, useState } from 'preact/hooks';
import type { Model } from './model.js';

/** Re-renders the component after every change of the model (coalesced to one frame). */
export function useModel(model: Model): number {
  const [, setVersion] = useState(model.version);
  useEffect(() => model.subscribe(() => setVersion(model.version)), [model]);
  return model.version;
}

/** The current time, refreshed every `everyMs`, for "3 s ago" and sliding windows. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** The page's location hash without `#/` (`overview`, `graph`, ...). */
export function useHashRoute(fallback: string): string {
  const read = () => location.hash.replace(/^#\/?/, '') || fallback;
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
