/** Reads a Prometheus text exposition the way a query would: samples by name and label matchers. */
export interface Exposition {
  /** The sum of the samples named `name` whose labels include all of `labels`; undefined if none. */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** Names of the metric families (# TYPE lines). */
  readonly families: ReadonlySet<string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Exposition {
  const samples: { name: string; labels: Map<string, string>; value: number }[] = [];
  const families = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) families.add(line.split(' ')[2] ?? '');
    const m = SAMPLE.exec(line);
    if (m === null) continue;
    const labels = new Map([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1] ?? '', l[2] ?? '']));
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return {
    families,
    value(name, labels = {}) {
      const hits = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels.get(k) === v),
      );
      return hits.length === 0 ? undefined : hits.reduce((sum, s) => sum + s.value, 0);
    },
  };
}
