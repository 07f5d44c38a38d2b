import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartProps {
  /** Series after the x values; x is seconds since the epoch (time axis) or an index. */
  data: uPlot.AlignedData;
  /** `scale: 'right'` puts a series on a second y axis (e.g. tokens beside dollars). */
  series: Array<{ label: string; stroke: string; fill?: string; bars?: boolean; scale?: 'right' }>;
  height?: number;
  /** x is time (default) or a plain index with these labels. */
  labels?: string[];
  yLabel?: string;
  rightLabel?: string;
  testId?: string;
}

/** A uPlot chart that follows its container's width and is rebuilt when the data change. */
export function Chart({ data, series, height = 200, labels, yLabel, rightLabel, testId }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const bars = uPlot.paths.bars?.({ size: [0.6, 64] });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: { x: { time: labels === undefined } },
      legend: { show: true },
      axes: [
        labels === undefined ? {} : { values: (_u, splits) => splits.map((i) => labels[i] ?? ''), space: 40 },
        { label: yLabel ?? '', size: 60 },
        ...(series.some((x) => x.scale === 'right')
          ? [{ scale: 'right', side: 1 as const, label: rightLabel ?? '', size: 60, grid: { show: false } }]
          : []),
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: 2,
          ...(s.fill === undefined ? {} : { fill: s.fill }),
          ...(s.scale === undefined ? {} : { scale: s.scale }),
          ...(s.bars && bars !== undefined ? { paths: bars, points: { show: false } } : {}),
        })),
      ],
    };
    const plot = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data, height, labels?.join('\u0000')]);
  return <div ref={box} class="chart" data-testid={testId} />;
}
