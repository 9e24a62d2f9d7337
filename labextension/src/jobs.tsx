/** The Schedule section: schedule this notebook (or edit its schedule), run it now, its recent runs, and a
 * log viewer that follows a running job. The hub's jobs API does the work (docs/scheduling.md). */
import React, { useCallback, useEffect, useId, useRef, useState } from 'react';

import { ErrorNote } from './errornote';
import { describeSchedule, formatIso, formatParameters, isActive, parseParameters, presetOf, PRESETS } from './schedule';
import { Job, JobDetail, JobRun, MlopsApi } from './types';

export const RUNS_PAGE = 10;
const LOG_POLL_MS = 2000;

export interface ScheduleViewProps {
  api: MlopsApi;
  path: string | null;
  /** saves the open notebook to disk: a job runs the notebook as it is on disk */
  saveNotebook: () => Promise<void>;
  /** opens a file of this server in JupyterLab (the executed notebook of a run) */
  openPath: (path: string) => void;
  refreshTick?: number;
  /** how often a running job's log is asked for (tests make it short) */
  pollMs?: number;
}

interface FormProps {
  job: Job | null;
  busyText: string;
  onSubmit: (schedule: string | null, parameters: Record<string, unknown>, retries: number, paused: boolean) => void;
  onCancel: (() => void) | null;
}

function JobForm({ job, busyText, onSubmit, onCancel }: FormProps): JSX.Element {
  const initial = presetOf(job?.schedule ?? '@daily');
  const [preset, setPreset] = useState(initial.preset);
  const [cron, setCron] = useState(initial.cron || '0 3 * * *');
  const [parameters, setParameters] = useState(formatParameters(job?.parameters ?? {}));
  const [retries, setRetries] = useState(job?.retries ?? 0);
  const [paused, setPaused] = useState(job?.paused ?? false);
  const id = useId();
  const schedule = preset === 'cron' ? cron : preset;
  const preview = describeSchedule(schedule);
  const parsed = parseParameters(parameters);
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (preview.valid && 'value' in parsed) {
      onSubmit(schedule || null, parsed.value, retries, paused);
    }
  };
  return (
    <form className="jp-mlops-form" onSubmit={submit} aria-label="Schedule this notebook">
      {/* a label beside (not around) the select: wrapped, its name would include the chosen option */}
      <label htmlFor={`${id}-schedule`}>Schedule</label>
      <select id={`${id}-schedule`} value={preset} onChange={e => setPreset(e.currentTarget.value)}>
        {PRESETS.map(p => (
          <option key={p.value} value={p.value}>
            {p.label}
          </option>
        ))}
      </select>
      {preset === 'cron' && (
        <label>
          Cron expression (UTC)
          <input value={cron} onChange={e => setCron(e.currentTarget.value)} aria-describedby="jp-mlops-schedule-words" />
        </label>
      )}
      <p id="jp-mlops-schedule-words" className={preview.valid ? 'jp-mlops-hint' : 'jp-mlops-error'} aria-live="polite">
        {preview.text}
      </p>
      <label>
        Parameters (one <code>name = value</code> per line)
        <textarea value={parameters} rows={3} onChange={e => setParameters(e.currentTarget.value)} />
      </label>
      {'error' in parsed && (
        <p className="jp-mlops-error" role="alert">
          {parsed.error}
        </p>
      )}
      <label>
        Retries when a run fails
        <input type="number" min={0} max={5} value={retries} onChange={e => setRetries(Number(e.currentTarget.value))} />
      </label>
      <label>
        <input type="checkbox" checked={paused} onChange={e => setPaused(e.currentTarget.checked)} /> Paused (scheduled
        runs wait until resumed)
      </label>
      <div className="jp-mlops-toolbar">
        <button
          className="jp-mlops-button jp-mod-accept"
          type="submit"
          disabled={!!busyText || !preview.valid || 'error' in parsed}
        >
          {job ? 'Save schedule' : 'Schedule'}
        </button>
        {onCancel && (
          <button className="jp-mlops-button" type="button" onClick={onCancel} disabled={!!busyText}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function JobFacts({ job }: { job: Job }): JSX.Element {
  return (
    <dl className="jp-mlops-facts" aria-label="This notebook's schedule">
      <dt>Schedule</dt>
      <dd title={job.schedule ?? ''}>{describeSchedule(job.schedule).text}</dd>
      <dt>State</dt>
      <dd>{!job.in_airflow ? 'waiting for Airflow to load it' : job.paused ? 'paused' : 'active'}</dd>
      <dt>Next run</dt>
      <dd>{job.paused ? '-' : formatIso(job.next_run)}</dd>
      <dt>Runs in</dt>
      <dd>
        {job.environment}, {job.cpu_limit} CPU, {Math.round(job.mem_limit / 2 ** 20)} MiB
      </dd>
      <dt>Airflow</dt>
      <dd>
        <a href={job.airflow_url} target="_blank" rel="noreferrer">
          open in Airflow
        </a>
      </dd>
    </dl>
  );
}

/** A run's task log, followed (only what is new, by continuation token) while the run may still change. */
export function LogViewer({ api, jobId, run, pollMs, onEnded }: {
  api: MlopsApi;
  jobId: string;
  run: JobRun;
  pollMs: number;
  onEnded: () => void;
}): JSX.Element {
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState<string | null>(run.state);
  const [error, setError] = useState<unknown>(null);
  const ended = useRef(onEnded);
  ended.current = onEnded;

  useEffect(() => {
    let stopped = false;
    let token: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setLines([]);
    const step = async () => {
      try {
        const log = await api.jobLog(jobId, run.run_id, token);
        if (stopped) {
          return;
        }
        token = log.continuation_token ?? token;
        setLines(current => [...current, ...log.lines]);
        setState(log.state);
        setError(null);
        if (!isActive(log.state)) {
          ended.current();
          return; // finished: its log is complete
        }
      } catch (err) {
        if (stopped) {
          return;
        }
        setError(err); // a run without a task yet answers 404: ask again
      }
      timer = setTimeout(step, pollMs);
    };
    void step();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, jobId, run.run_id, pollMs]);

  return (
    <div className="jp-mlops-log-viewer">
      <p className="jp-mlops-hint jp-mlops-log-state">
        Log of {run.run_id}: {state ?? 'waiting'}
        {isActive(state) ? ' (following)' : ''}
      </p>
      <pre className="jp-mlops-log" role="log" aria-label={`Log of run ${run.run_id}`} tabIndex={0}>
        {lines.join('\n')}
      </pre>
      <ErrorNote error={error} />
    </div>
  );
}

function RunList({ detail, selected, onSelect, onOpen, onMore }: {
  detail: JobDetail;
  selected: string | null;
  onSelect: (run: JobRun) => void;
  onOpen: (run: JobRun) => void;
  onMore: (() => void) | null;
}): JSX.Element {
  if (detail.runs.length === 0) {
    return <p className="jp-mlops-hint">No runs yet.</p>;
  }
  return (
    <>
      <table className="jp-mlops-table" aria-label="Recent runs of this job">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">State</th>
            <th scope="col">Kind</th>
            <th scope="col">
              <span className="jp-mlops-sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {detail.runs.map(run => (
            <tr key={run.run_id} className={run.run_id === selected ? 'jp-mlops-selected' : ''}>
              <td>{formatIso(run.start_date ?? run.queued_at)}</td>
              <td>
                <span className={`jp-mlops-state jp-mlops-state-${run.state ?? 'none'}`}>{run.state ?? 'queued'}</span>
              </td>
              <td>{run.run_type === 'scheduled' ? 'scheduled' : 'by hand'}</td>
              <td>
                <button className="jp-mlops-link-button" type="button" onClick={() => onSelect(run)}
                  aria-label={`Show the log of run ${run.run_id}`}>
                  Log
                </button>{' '}
                {run.start_date && (
                  <button className="jp-mlops-link-button" type="button" onClick={() => onOpen(run)}
                    aria-label={`Open the executed notebook of run ${run.run_id}`} title={run.output_notebook}>
                    Notebook
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {onMore && (
        <button className="jp-mlops-button" type="button" onClick={onMore}>
          Show older runs ({detail.runs.length} of {detail.total})
        </button>
      )}
    </>
  );
}

export function ScheduleView({
  api, path, saveNotebook, openPath, refreshTick = 0, pollMs = LOG_POLL_MS
}: ScheduleViewProps): JSX.Element {
  const [job, setJob] = useState<Job | null | undefined>(undefined); // undefined: not loaded yet
  const [detail, setDetail] = useState<JobDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const [busyText, setBusyText] = useState('');
  const [following, setFollowing] = useState<JobRun | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [logEnded, setLogEnded] = useState<string | null>(null); // the followed run whose log is complete

  const loadRuns = useCallback(async (found: Job, count: number) => {
    setDetail(await api.jobDetail(found.id, count, 0));
  }, [api]);

  const load = useCallback(async () => {
    if (!path) {
      return;
    }
    setError(null);
    try {
      const found = (await api.jobs()).find(j => j.notebook === path) ?? null;
      setJob(found);
      if (found) {
        await loadRuns(found, RUNS_PAGE);
      } else {
        setDetail(null);
      }
    } catch (err) {
      setError(err);
    }
  }, [api, path, loadRuns]);

  useEffect(() => {
    setJob(undefined);
    setEditing(false);
    setFollowing(null);
    setActionError(null);
    setConfirmRemove(false);
  }, [path]);

  useEffect(() => {
    void load();
  }, [load, refreshTick]);

  // Airflow marks the run done a scheduler loop after its task: reload the runs until its row says so
  useEffect(() => {
    const row = detail?.runs.find(r => r.run_id === logEnded);
    if (!job || !row || !isActive(row.state)) {
      return;
    }
    const timer = setTimeout(() => void loadRuns(job, Math.max(RUNS_PAGE, detail?.runs.length ?? 0)), pollMs);
    return () => clearTimeout(timer);
  }, [logEnded, detail, job, pollMs, loadRuns]);

  if (!path) {
    return <p className="jp-mlops-hint">Open a notebook to schedule it.</p>;
  }
  if (error) {
    return <ErrorNote error={error} />;
  }
  if (job === undefined) {
    return <p className="jp-mlops-hint">Loading…</p>;
  }

  const act = async (text: string, action: () => Promise<void>) => {
    setActionError(null);
    setBusyText(text);
    try {
      await action();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusyText('');
    }
  };
  const schedule = (sched: string | null, parameters: Record<string, unknown>, retries: number, paused: boolean) =>
    act('Scheduling: Airflow loads the job, which can take a minute…', async () => {
      await saveNotebook();
      const saved = await api.scheduleJob({ path, schedule: sched, parameters, retries, paused });
      setJob(saved);
      setEditing(false);
      await loadRuns(saved, RUNS_PAGE);
    });
  const status = busyText && (
    <p className="jp-mlops-progress" role="status" aria-live="polite">
      {busyText}
    </p>
  );

  if (!job || editing) {
    return (
      <div className="jp-mlops-schedule">
        {!job && <p className="jp-mlops-hint">This notebook has no schedule. It runs from its saved file, in this server&apos;s environment and size.</p>}
        <JobForm job={job} busyText={busyText} onSubmit={schedule} onCancel={job ? () => setEditing(false) : null} />
        {status}
        <ErrorNote error={actionError} />
      </div>
    );
  }

  const current = job;
  const runNow = () =>
    act('Starting a run…', async () => {
      const run = await api.runJobNow(current.id);
      setFollowing(run);
      await loadRuns(current, Math.max(RUNS_PAGE, detail?.runs.length ?? 0));
    });
  const togglePaused = () =>
    act(current.paused ? 'Resuming…' : 'Pausing…', async () => setJob(await api.setJobPaused(current.id, !current.paused)));
  const remove = () =>
    act('Removing the schedule…', async () => {
      await api.deleteJob(current.id);
      setConfirmRemove(false);
      setFollowing(null);
      setDetail(null);
      setJob(null);
    });
  const more = detail && detail.runs.length < detail.total
    ? () => void act('Loading older runs…', () => loadRuns(current, detail.runs.length + RUNS_PAGE))
    : null;

  return (
    <div className="jp-mlops-schedule">
      <JobFacts job={job} />
      {(job.import_errors ?? []).map((e, i) => (
        <pre key={i} className="jp-mlops-error" role="alert">
          {e}
        </pre>
      ))}
      <div className="jp-mlops-toolbar">
        <button className="jp-mlops-button jp-mod-accept" type="button" onClick={runNow} disabled={!!busyText}>
          Run now
        </button>
        <button className="jp-mlops-button" type="button" onClick={togglePaused} disabled={!!busyText}>
          {job.paused ? 'Resume' : 'Pause'}
        </button>
        <button className="jp-mlops-button" type="button" onClick={() => setEditing(true)} disabled={!!busyText}>
          Edit
        </button>
        <button className="jp-mlops-button" type="button" onClick={() => setConfirmRemove(true)} disabled={!!busyText}>
          Remove
        </button>
      </div>
      {confirmRemove && (
        <div className="jp-mlops-confirm" role="alertdialog" aria-label="Remove the schedule">
          <p>Remove this schedule? Executed notebooks stay in {job.output_folder}.</p>
          <button className="jp-mlops-button jp-mod-warn" type="button" onClick={remove} disabled={!!busyText}>
            Remove the schedule
          </button>{' '}
          <button className="jp-mlops-button" type="button" onClick={() => setConfirmRemove(false)}>
            Keep it
          </button>
        </div>
      )}
      {status}
      <ErrorNote error={actionError} />
      <h3 className="jp-mlops-subheading">Recent runs</h3>
      {detail && (
        <RunList detail={detail} selected={following?.run_id ?? null} onSelect={setFollowing}
          onOpen={run => openPath(run.output_notebook)} onMore={more} />
      )}
      {following && (
        <LogViewer key={following.run_id} api={api} jobId={job.id} run={following} pollMs={pollMs}
          onEnded={() => {
            setLogEnded(following.run_id);
            void loadRuns(current, Math.max(RUNS_PAGE, detail?.runs.length ?? 0));
          }} />
      )}
    </div>
  );
}
