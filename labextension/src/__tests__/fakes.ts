/** A fake MlopsApi for component tests: canned answers, recorded calls. */
import { DEFAULT_SETTINGS, Job, JobRun, MlopsApi, RunSummary, SaveResult } from '../types';

export const settings = { ...DEFAULT_SETTINGS };

export function run(overrides: Partial<RunSummary>): RunSummary {
  return {
    run_id: 'r1', run_name: 'bright-owl', experiment_id: '1', status: 'FINISHED',
    start_time: Date.UTC(2026, 0, 2, 3, 4), end_time: null, user: 'ada', notebook: '/home/jovyan/a.ipynb',
    git_commit: '0123456789abcdef', git_branch: 'main', git_path: 'a.ipynb', uncommitted_changes: false,
    environment: 'python', metrics: {}, params: {}, url: 'http://mlflow/#/experiments/1/runs/r1',
    ...overrides
  };
}

export const saved: SaveResult = {
  project: 'team/analysis', branch: 'tuning', commit: 'feedbeef00112233', committed: true,
  commit_url: 'http://gitlab/team/analysis/-/commit/feedbeef00112233',
  branch_url: 'http://gitlab/team/analysis/-/tree/tuning',
  merge_request: { iid: 7, url: 'http://gitlab/team/analysis/-/merge_requests/7', created: true }
};

export function job(overrides: Partial<Job> = {}): Job {
  return {
    id: 'nb__ada__a__0123456789ab', owner: 'ada', notebook: 'p/a.ipynb', schedule: '0 3 * * *',
    start_date: '2026-01-01T00:00:00+00:00', retries: 0, parameters: { alpha: 0.5 }, environment: 'python',
    role: 'data-scientists', cpu_limit: 1, mem_limit: 2 * 2 ** 30, output_folder: 'p/runs', paused: false,
    next_run: '2026-01-02T03:00:00+00:00', in_airflow: true, airflow_url: '/airflow/dags/nb__ada__a__0123456789ab',
    import_errors: [], ...overrides
  };
}

export function jobRun(overrides: Partial<JobRun> = {}): JobRun {
  return {
    run_id: 'manual__2026-01-02', state: 'success', run_type: 'manual', queued_at: '2026-01-02T03:00:00+00:00',
    start_date: '2026-01-02T03:00:05+00:00', end_date: '2026-01-02T03:01:00+00:00', conf: {},
    output_notebook: 'p/runs/a-manual__2026-01-02.ipynb', ...overrides
  };
}

export function fakeApi(overrides: Partial<MlopsApi> = {}): MlopsApi & { calls: any[][] } {
  const calls: any[][] = [];
  const record = <T>(name: string, value: T) => (...args: any[]) => {
    calls.push([name, ...args]);
    return Promise.resolve(value);
  };
  const api: MlopsApi = {
    context: record('context', { user: 'ada', environment: 'python', image_digest: null, cpu_limit: '1', mem_limit: '2147483648', mlflow_ui_url: null, gitlab_url: null }),
    gitStatus: record('gitStatus', {
      path: 'a.ipynb', repository: '/home/jovyan/p', git_path: 'a.ipynb', commit: 'abcdef0123456789',
      branch: 'main', remote_url: 'http://gitlab/team/analysis.git', uncommitted_changes: true, tracked: true
    }),
    runs: record('runs', { path: 'a.ipynb', user: 'ada', runs: [], next_page_token: null }),
    save: record('save', saved),
    saveToken: record('saveToken', undefined),
    usage: record('usage', null),
    jobs: record('jobs', []),
    scheduleJob: record('scheduleJob', job()),
    jobDetail: record('jobDetail', { job: job(), runs: [], total: 0 }),
    runJobNow: record('runJobNow', jobRun({ state: 'queued', start_date: null })),
    setJobPaused: record('setJobPaused', job({ paused: true })),
    deleteJob: record('deleteJob', undefined),
    jobLog: record('jobLog', { lines: [], continuation_token: null, state: 'success', try_number: 1 }),
    releaseModel: record('releaseModel', {
      service: 'model-churn', version: '3', state: 'completed', image: 'reg/model-churn:v3@sha256:ab',
      url: '/models/churn/invocations', message: '', progress: ['releasing churn version 3']
    })
  };
  for (const [name, fn] of Object.entries(overrides)) {
    (api as any)[name] = (...args: any[]) => {
      calls.push([name, ...args]);
      return (fn as any)(...args);
    };
  }
  return Object.assign(api, { calls });
}
