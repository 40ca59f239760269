/**
 * Metric charts with vega-embed, bundled (no CDN: works offline), colored like the
 * notebook widgets and following the JupyterLab theme.
 */
import embed, { Result } from 'vega-embed';

/** Run colors in selection order (style.RUN_COLORS, Vega's tableau10). */
export const RUN_COLORS = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac'
];

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** Vega config from the current JupyterLab theme's variables. */
export function themeConfig(): Record<string, any> {
  const text = cssVar('--jp-ui-font-color1', '#1f2328');
  const muted = cssVar('--jp-ui-font-color2', '#656d76');
  const grid = cssVar('--jp-border-color3', '#eaeef2');
  const line = cssVar('--jp-border-color2', '#d0d7de');
  const font = cssVar('--jp-ui-font-family', 'system-ui, sans-serif');
  const axis = {
    labelColor: muted,
    titleColor: text,
    gridColor: grid,
    domainColor: line,
    tickColor: line,
    labelFont: font,
    titleFont: font
  };
  return {
    background: 'transparent',
    font,
    view: { stroke: 'transparent' },
    axis,
    legend: {
      labelColor: text,
      titleColor: text,
      labelFont: font,
      titleFont: font
    },
    title: { color: text, font }
  };
}

export interface ISeries {
  run: string;
  runId: string;
  points: [number, number | null, number][];
}

/** A line per run of one metric over steps; returns the vega view (to finalize). */
export async function lineChart(
  el: HTMLElement,
  metric: string,
  series: ISeries[],
  width: number
): Promise<Result> {
  const values = series.flatMap(s =>
    s.points
      .filter(p => p[1] !== null)
      .map(p => ({ run: s.run, step: p[0], value: p[1] }))
  );
  const runs = series.map(s => s.run);
  const spec: any = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: Math.max(240, width),
    height: 240,
    data: { values },
    mark: { type: 'line', point: values.length < 60, tooltip: true },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: {
        field: 'value',
        type: 'quantitative',
        title: metric,
        scale: { zero: false }
      },
      color: {
        field: 'run',
        type: 'nominal',
        title: 'run',
        scale: { domain: runs, range: RUN_COLORS }
      }
    },
    config: themeConfig()
  };
  return embed(el, spec, { actions: false, renderer: 'svg' });
}
