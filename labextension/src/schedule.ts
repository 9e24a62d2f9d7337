/** Pure helpers of the Schedule section: the schedule in words, parameters as text, run states. */
import { toString as cronInWords } from 'cronstrue';

/** The schedules the form offers; the hub accepts these presets and any 5-field cron expression. */
export const PRESETS: { value: string; label: string }[] = [
  { value: '', label: 'No schedule (run it by hand)' },
  { value: '@once', label: 'Once' },
  { value: '@hourly', label: 'Every hour' },
  { value: '@daily', label: 'Every day' },
  { value: '@weekly', label: 'Every week' },
  { value: '@monthly', label: 'Every month' },
  { value: 'cron', label: 'Custom (cron)' }
];

// presets cronstrue does not know, or says in a way that hides what they mean
const PRESET_WORDS: Record<string, string> = {
  '@once': 'Once, at the start date',
  '@quarterly': 'At 00:00, on day 1 of January, April, July and October',
  '@yearly': 'At 00:00, on 1 January'
};

/** The schedule in words (times in UTC, as the hub runs them), or why it is not a schedule. */
export function describeSchedule(expression: string | null): { text: string; valid: boolean } {
  const value = (expression ?? '').trim();
  if (!value) {
    return { text: 'Runs only when you start it', valid: true };
  }
  if (PRESET_WORDS[value]) {
    return { text: PRESET_WORDS[value], valid: true };
  }
  if (!value.startsWith('@') && value.split(/\s+/).length !== 5) {
    return { text: 'A cron expression has 5 fields: minute hour day-of-month month day-of-week', valid: false };
  }
  try {
    return { text: `${cronInWords(value, { use24HourTimeFormat: true })} (UTC)`, valid: true };
  } catch (err) {
    return { text: String(err).replace(/^Error:\s*/, ''), valid: false };
  }
}

/** The form's schedule choice for a saved schedule: its preset, or "cron" with the expression. */
export function presetOf(schedule: string | null): { preset: string; cron: string } {
  const value = schedule ?? '';
  return PRESETS.some(p => p.value === value && p.value !== 'cron')
    ? { preset: value, cron: '' }
    : { preset: 'cron', cron: value };
}

/** `name = value` lines (values in JSON, or plain text) to the parameters object; errors name the line. */
export function parseParameters(text: string): { value: Record<string, unknown> } | { error: string } {
  const value: Record<string, unknown> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const eq = line.indexOf('=');
    const name = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      return { error: `Parameters, line ${i + 1}: expected "name = value" with a Python name` };
    }
    const raw = line.slice(eq + 1).trim();
    try {
      value[name] = JSON.parse(raw);
    } catch {
      value[name] = raw; // plain text: a string parameter without quotes
    }
  }
  return { value };
}

export function formatParameters(parameters: Record<string, unknown>): string {
  return Object.entries(parameters)
    .map(([name, value]) => `${name} = ${JSON.stringify(value)}`)
    .join('\n');
}

/** Airflow's run states that may still change: the log viewer follows these. */
export function isActive(state: string | null): boolean {
  return state === null || ['queued', 'running', 'scheduled', 'up_for_retry', 'restarting', 'deferred'].includes(state);
}

export function formatIso(iso: string | null): string {
  if (!iso) {
    return '-';
  }
  const d = new Date(iso);
  if (isNaN(d.getTime())) {
    return iso;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
