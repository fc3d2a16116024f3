// Reads histograms from a Prometheus text exposition (the gateway's /metrics) and subtracts two
// scrapes, so a benchmark can report what one run added: count, mean and bucket-interpolated
// quantiles per label set.

export interface HistogramSeries {
  /** Label set without `le`, e.g. `step="dispatch",outcome="ok"`. */
  readonly labels: string;
  readonly count: number;
  readonly sum: number;
  /** Cumulative counts by upper bound, ascending (the +Inf bucket last). */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)/;

/** Every series of histogram `name` in a scrape. */
export function parseHistogram(text: string, name: string): HistogramSeries[] {
  const series = new Map<string, { count: number; sum: number; buckets: { le: number; count: number }[] }>();
  const get = (labels: string) => {
    let s = series.get(labels);
    if (!s) series.set(labels, (s = { count: 0, sum: 0, buckets: [] }));
    return s;
  };
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || !m[1]!.startsWith(name)) continue;
    const suffix = m[1]!.slice(name.length);
    const labels = m[2] ?? '';
    const value = Number(m[3]);
    if (suffix === '_bucket') {
      const le = /(?:^|,)le="([^"]*)"/.exec(labels);
      const rest = labels.replace(/,?le="[^"]*"/, '').replace(/^,/, '');
      get(rest).buckets.push({ le: le?.[1] === '+Inf' ? Infinity : Number(le?.[1]), count: value });
    } else if (suffix === '_sum') get(labels).sum = value;
    else if (suffix === '_count') get(labels).count = value;
  }
  return [...series.entries()].map(([labels, s]) => ({ labels, count: s.count, sum: s.sum, buckets: s.buckets.sort((a, b) => a.le - b.le) }));
}

/** after - before, series by series (a series absent before counts from zero). */
export function diffHistograms(after: readonly HistogramSeries[], before: readonly HistogramSeries[]): HistogramSeries[] {
  return after
    .map((a) => {
      const b = before.find((x) => x.labels === a.labels);
      return {
        labels: a.labels,
        count: a.count - (b?.count ?? 0),
        sum: a.sum - (b?.sum ?? 0),
        buckets: a.buckets.map((k, i) => ({ le: k.le, count: k.count - (b?.buckets[i]?.count ?? 0) })),
      };
    })
    .filter((s) => s.count > 0);
}

/** Quantile q (0..1) by linear interpolation inside the bucket (as Prometheus histogram_quantile). */
export function histogramQuantile(s: HistogramSeries, q: number): number {
  const rank = q * s.count;
  let lower = 0;
  let below = 0;
  for (const b of s.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      const inBucket = b.count - below;
      return inBucket > 0 ? lower + ((b.le - lower) * (rank - below)) / inBucket : b.le;
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

/** What one run added to a stage histogram, in milliseconds. */
export interface StageStats {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** The gateway's stage histograms between two scrapes: accept, accept stages, pipeline steps, delivery. */
export function gatewayStagesOf(before: string, after: string): Record<string, StageStats> {
  const out: Record<string, StageStats> = {};
  const families: [string, (labels: string) => string][] = [
    ['dime_gateway_accept_latency_seconds', (l) => `accept ${/listener="([^"]*)"/.exec(l)?.[1] ?? l}`],
    ['dime_gateway_accept_stage_seconds', (l) => `accept/${/stage="([^"]*)"/.exec(l)?.[1] ?? l}`],
    ['dime_gateway_pipeline_step_seconds', (l) => `step/${/step="([^"]*)"/.exec(l)?.[1] ?? l}${/outcome="ok"/.test(l) ? '' : ` (${/outcome="([^"]*)"/.exec(l)?.[1]})`}`],
    ['dime_gateway_delivery_latency_seconds', (l) => `delivery ${/route="([^"]*)"/.exec(l)?.[1] ?? l}`],
  ];
  for (const [name, key] of families) {
    for (const s of diffHistograms(parseHistogram(after, name), parseHistogram(before, name))) {
      out[key(s.labels)] = { count: s.count, meanMs: (1000 * s.sum) / s.count, p50Ms: 1000 * histogramQuantile(s, 0.5), p99Ms: 1000 * histogramQuantile(s, 0.99) };
    }
  }
  return out;
}
