/** One line of a chart: a label and one value per point. */
export interface Series {
  readonly label: string;
  readonly values: readonly number[];
}

const COLOURS: Readonly<Record<string, string>> = {
  Critical: '#8b0000',
  High: '#d9480f',
  Medium: '#e6a700',
  Low: '#1c7ed6',
  None: '#868e96',
  unset: '#868e96',
};

/**
 * A line chart as plain SVG (no script, no library): one polyline per series over the points'
 * labels (run times), with the y axis from 0 to the largest value.
 */
export function LineChart(props: {
  title: string;
  points: readonly string[];
  series: readonly Series[];
  testid: string;
}) {
  const width = 560;
  const height = 200;
  const pad = { left: 40, right: 10, top: 10, bottom: 30 };
  const max = Math.max(1, ...props.series.flatMap((s) => s.values));
  const n = props.points.length;
  const x = (i: number) => pad.left + (n <= 1 ? 0 : (i * (width - pad.left - pad.right)) / (n - 1));
  const y = (v: number) => height - pad.bottom - (v * (height - pad.top - pad.bottom)) / max;
  return (
    <figure class="chart" data-testid={props.testid}>
      <figcaption>{props.title}</figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        width={width}
        height={height}
        role="img"
        aria-label={props.title}
      >
        <line x1={pad.left} y1={y(0)} x2={width - pad.right} y2={y(0)} stroke="#adb5bd" />
        <line x1={pad.left} y1={pad.top} x2={pad.left} y2={y(0)} stroke="#adb5bd" />
        <text x={pad.left - 6} y={y(max) + 4} text-anchor="end" font-size="11">
          {String(max)}
        </text>
        <text x={pad.left - 6} y={y(0) + 4} text-anchor="end" font-size="11">
          0
        </text>
        {n > 0 ? (
          <>
            <text x={x(0)} y={height - 8} font-size="11">
              {props.points[0]}
            </text>
            {n > 1 ? (
              <text x={x(n - 1)} y={height - 8} font-size="11" text-anchor="end">
                {props.points[n - 1]}
              </text>
            ) : null}
          </>
        ) : null}
        {props.series.map((s) => (
          <g>
            <polyline
              fill="none"
              stroke={COLOURS[s.label] ?? '#495057'}
              stroke-width="2"
              points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')}
            />
            {s.values.map((v, i) => (
              <circle cx={x(i)} cy={y(v)} r="3" fill={COLOURS[s.label] ?? '#495057'}>
                <title>{`${s.label}: ${v} (${props.points[i] ?? ''})`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <ul class="legend">
        {props.series.map((s) => (
          <li>
            <span class="swatch" data-severity={s.label}></span>
            {`${s.label}: ${s.values[s.values.length - 1] ?? 0}`}
          </li>
        ))}
      </ul>
    </figure>
  );
}
