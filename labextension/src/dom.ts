/**
 * Small DOM helpers and the formats of the notebook widgets
 * (jupyter_mltrack/widgets/style.py), so both faces read alike.
 */

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (`class`, `title`, `on<event>`, ...) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, any> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = String(value);
    } else if (key === 'style' && typeof value === 'object') {
      Object.assign(node.style, value);
    } else if (key in node && typeof value !== 'string') {
      (node as any)[key] = value;
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(typeof child === 'number' ? String(child) : child);
  }
  return node;
}

/** Badge colors of statuses and stages (style.STATUS_COLORS). */
const BADGES = new Set([
  'RUNNING',
  'SCHEDULED',
  'FINISHED',
  'FAILED',
  'KILLED',
  'Production',
  'Staging',
  'Archived',
  'None'
]);

/** A colored pill for a run status or a registry stage; RUNNING pulses. */
export function badge(status: string): HTMLElement {
  const cls = BADGES.has(status)
    ? `mlt-badge-${status.replace(/[^A-Za-z0-9]/g, '_')}`
    : '';
  return h(
    'span',
    {
      class: `mlt-badge ${cls} ${status === 'RUNNING' ? 'mlt-live' : ''}`,
      'data-status': status
    },
    h('span', { class: 'mlt-dot' }),
    status
  );
}

/** A metric or param value, short: 4 significant digits, thousands separated. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (Number.isNaN(value)) {
    return 'NaN';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? '∞' : '-∞';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e15) {
    return value.toLocaleString('en-US');
  }
  const magnitude = Math.abs(value);
  if (magnitude >= 1e4 && magnitude < 1e15) {
    return Math.round(value).toLocaleString('en-US');
  }
  if (magnitude >= 1e-3) {
    return String(Number(value.toPrecision(4)));
  }
  return value.toExponential(3);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local date and time of an epoch in milliseconds. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) {
    return '';
  }
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** `1h 02m`, `3m 05s`, `4.2s`; empty for unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || Number.isNaN(seconds)) {
    return '';
  }
  seconds = Math.max(0, seconds);
  if (seconds < 10) {
    return `${seconds.toFixed(1)}s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)}s`;
  }
  const total = Math.round(seconds);
  const minutes = Math.floor(total / 60);
  if (minutes < 60) {
    return `${minutes}m ${pad(total % 60)}s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${pad(minutes % 60)}m`;
}

/** Bytes as `1.2 MB`. */
export function formatSize(bytes: number | null): string {
  if (bytes === null) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let value = bytes;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(1)} ${units[i]}`;
}

/** A muted (or red) message box; `detail` is shown preformatted (caret lines). */
export function notice(text: string, error = false, detail = ''): HTMLElement {
  return h(
    'div',
    { class: error ? 'mlt-notice mlt-error' : 'mlt-notice' },
    text,
    detail ? h('pre', {}, detail) : null
  );
}

/** Splits an error message into its first line and the rest (a filter's caret lines). */
export function errorNotice(error: unknown): HTMLElement {
  const message = error instanceof Error ? error.message : String(error);
  const [first, ...rest] = message.split('\n');
  return notice(first, true, rest.join('\n'));
}

/** Run duration as text (running runs count up to now). */
export function runDuration(start: number, end: number | null): string {
  return formatDuration(((end ?? Date.now()) - start) / 1000);
}
