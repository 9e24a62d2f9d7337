/** Pure helpers the views share: columns, times, sizes. */
import { PanelSettings, RunSummary } from './types';

/** The configured keys, or else the first `max` keys the runs have (in first-seen order). */
export function chooseColumns(
  runs: RunSummary[],
  field: 'metrics' | 'params',
  configured: string[],
  max: number
): string[] {
  if (configured.length > 0) {
    return configured;
  }
  const seen: string[] = [];
  for (const run of runs) {
    for (const key of Object.keys(run[field])) {
      if (!seen.includes(key)) {
        seen.push(key);
      }
    }
  }
  return seen.slice(0, max);
}

export function columnsFor(runs: RunSummary[], settings: PanelSettings) {
  return {
    metrics: chooseColumns(runs, 'metrics', settings.metricsColumns, settings.maxColumns),
    params: chooseColumns(runs, 'params', settings.paramsColumns, settings.maxColumns)
  };
}

export function formatTime(ms: number | null): string {
  if (!ms) {
    return '-';
  }
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatValue(value: number | string | undefined): string {
  if (value === undefined) {
    return '';
  }
  if (typeof value === 'number' && !Number.isInteger(value)) {
    return String(Number(value.toPrecision(4)));
  }
  return String(value);
}

export function shortCommit(commit: string | null): string {
  return commit ? commit.slice(0, 8) : '-';
}

/** Bytes from JupyterHub's MEM_LIMIT (a byte count) or a size like "2G". */
export function parseBytes(value: string | null): number | null {
  if (!value) {
    return null;
  }
  const m = /^\s*([\d.]+)\s*([KMGT]?)i?B?\s*$/i.exec(value);
  if (!m) {
    return null;
  }
  const power = ' KMGT'.indexOf(m[2].toUpperCase() || ' ');
  return Math.round(parseFloat(m[1]) * 1024 ** power);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** Every key of two runs' params or metrics, sorted, for a side-by-side table. */
export function unionKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return Array.from(new Set([...Object.keys(a), ...Object.keys(b)])).sort();
}
