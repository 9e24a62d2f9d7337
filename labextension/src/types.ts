/** The REST API's shapes (docs/lab-extension.md, "REST API") and the panel's view of it. */

export interface RunSummary {
  run_id: string;
  run_name: string | null;
  experiment_id: string;
  status: string | null;
  start_time: number | null;
  end_time: number | null;
  user: string | null;
  notebook: string | null;
  git_commit: string | null;
  git_branch: string | null;
  git_path: string | null;
  uncommitted_changes: boolean | null;
  environment: string | null;
  metrics: Record<string, number>;
  params: Record<string, string>;
  url: string;
}

export interface RunsPage {
  path: string;
  user: string | null;
  runs: RunSummary[];
  next_page_token: string | null;
}

export interface GitStatus {
  path: string;
  repository: string;
  git_path: string;
  commit: string | null;
  branch: string | null;
  remote_url: string | null;
  uncommitted_changes: boolean;
  tracked: boolean;
}

export interface SaveRequest {
  path: string;
  message: string;
  branch?: string;
  strip_outputs: boolean;
  merge_request: boolean;
}

export interface SaveResult {
  project: string;
  branch: string;
  commit: string;
  committed: boolean;
  commit_url: string;
  branch_url: string;
  merge_request: { iid: number; url: string; created: boolean } | null;
}

export interface ServerContext {
  user: string | null;
  environment: string | null;
  image_digest: string | null;
  cpu_limit: string | null;
  mem_limit: string | null;
  mlflow_ui_url: string | null;
  gitlab_url: string | null;
}

/** jupyter-resource-usage's /api/metrics/v1 answer (the fields the status bar reads). */
export interface ResourceUsage {
  rss: number;
  limits: { memory?: { rss: number } };
  cpu_percent?: number;
  cpu_count?: number;
}

/** A scheduled notebook as the hub shows it (docs/scheduling.md, "REST API"). */
export interface Job {
  id: string;
  owner: string;
  notebook: string;
  schedule: string | null;
  start_date: string;
  retries: number;
  parameters: Record<string, unknown>;
  environment: string;
  role: string;
  cpu_limit: number;
  mem_limit: number;
  output_folder: string;
  paused: boolean | null;
  next_run: string | null;
  in_airflow: boolean;
  airflow_url: string;
  import_errors?: string[];
}

export interface JobRun {
  run_id: string;
  state: string | null;
  run_type: string | null;
  queued_at: string | null;
  start_date: string | null;
  end_date: string | null;
  conf: Record<string, unknown>;
  /** the executed copy, relative to the home (the Jupyter root) */
  output_notebook: string;
}

export interface JobDetail {
  job: Job;
  runs: JobRun[];
  total: number;
}

export interface JobLog {
  lines: string[];
  continuation_token: string | null;
  state: string | null;
  try_number: number;
}

export interface ScheduleRequest {
  path: string;
  schedule: string | null;
  parameters: Record<string, unknown>;
  retries: number;
  paused: boolean;
}

/** An error as the server worded it: `{"message", "reason"}`; never a stack trace. */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly reason: string | null,
    readonly status: number
  ) {
    super(message);
  }
}

/** What the views need from the server; `client.ts` implements it, tests fake it. */
export interface MlopsApi {
  context(): Promise<ServerContext>;
  gitStatus(path: string): Promise<GitStatus>;
  runs(path: string, allUsers: boolean, maxResults: number, pageToken?: string | null): Promise<RunsPage>;
  save(request: SaveRequest): Promise<SaveResult>;
  saveToken(token: string): Promise<void>;
  usage(): Promise<ResourceUsage | null>;
  jobs(): Promise<Job[]>;
  scheduleJob(request: ScheduleRequest): Promise<Job>;
  jobDetail(id: string, limit: number, offset: number): Promise<JobDetail>;
  runJobNow(id: string): Promise<JobRun>;
  setJobPaused(id: string, paused: boolean): Promise<Job>;
  deleteJob(id: string): Promise<void>;
  jobLog(id: string, runId: string, token: string | null): Promise<JobLog>;
  releaseModel(request: ReleaseRequest): Promise<ModelRelease>;
}

/** What the panel asks the hub to serve (docs/models.md). */
export interface ReleaseRequest {
  model: string;
  replicas?: number;
}

/** The hub's answer to a release that serves. */
export interface ModelRelease {
  service: string;
  version: string;
  state: string;
  image: string;
  url: string;
  message: string;
  progress: string[];
}

/** Settings of the panel (schema/plugin.json). */
export interface PanelSettings {
  metricsColumns: string[];
  paramsColumns: string[];
  maxColumns: number;
  maxRuns: number;
  stripOutputs: boolean;
  openMergeRequest: boolean;
}

export const DEFAULT_SETTINGS: PanelSettings = {
  metricsColumns: [],
  paramsColumns: [],
  maxColumns: 3,
  maxRuns: 50,
  stripOutputs: true,
  openMergeRequest: true
};
