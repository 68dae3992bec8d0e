/** One named series of a chart. */
export interface ChartSeries {
  readonly name: string;
  readonly values: readonly number[];
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#be185d', '#4b5563'];

/** The colour of the n-th series, shared by the chart and its legend. */
export function seriesColor(n: number): string {
  return COLORS[n % COLORS.length] as string;
}

/** Round numbers for the y axis: 0, a nice step, up to at least the maximum. */
function ticks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v < max + step; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

/**
 * A line chart in plain SVG (no chart library: the page loads nothing but its own bundle). Labels are
 * the bucket labels; each series is a line with dots; `format` writes the y-axis values.
 */
export function LineChart(props: {
  readonly labels: readonly string[];
  readonly series: readonly ChartSeries[];
  readonly format?: (v: number) => string;
  readonly title: string;
}) {
  const { labels, series } = props;
  const format = props.format ?? ((v: number) => String(v));
  const W = 720;
  const H = 240;
  const pad = { left: 56, right: 28, top: 12, bottom: 36 };
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const yTicks = ticks(max);
  const top = yTicks[yTicks.length - 1] ?? 1;
  const n = Math.max(1, labels.length - 1);
  const x = (i: number) => pad.left + ((W - pad.left - pad.right) * i) / n;
  const y = (v: number) => H - pad.bottom - ((H - pad.top - pad.bottom) * v) / (top || 1);
  const every = Math.max(1, Math.ceil(labels.length / 8));
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.title}>
        <title>{props.title}</title>
        {yTicks.map((t) => (
          <g key={t}>
            <line x1={pad.left} x2={W - pad.right} y1={y(t)} y2={y(t)} class="grid" />
            <text x={pad.left - 6} y={y(t) + 4} text-anchor="end" class="axis">
              {format(t)}
            </text>
          </g>
        ))}
        {labels.map((l, i) =>
          i % every === 0 ? (
            <text
              key={l}
              x={x(i)}
              y={H - pad.bottom + 16}
              text-anchor={i === labels.length - 1 ? 'end' : i === 0 ? 'start' : 'middle'}
              class="axis"
            >
              {l}
            </text>
          ) : null,
        )}
        {series.map((s, si) => (
          <g key={s.name} stroke={seriesColor(si)} fill={seriesColor(si)}>
            <polyline
              fill="none"
              stroke-width="2"
              points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')}
            />
            {s.values.map((v, i) =>
              v > 0 ? (
                <circle key={labels[i]} cx={x(i)} cy={y(v)} r="2.5">
                  <title>{`${s.name} · ${labels[i]}: ${format(v)}`}</title>
                </circle>
              ) : null,
            )}
          </g>
        ))}
      </svg>
      <figcaption class="legend">
        {series.map((s, si) => (
          <span key={s.name}>
            <i style={{ background: seriesColor(si) }} /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
