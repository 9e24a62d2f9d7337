/** MlopsApi over the server extension's REST endpoints (and jupyter-resource-usage's). */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { Job, JobRun, MlopsApi, ModelRelease, ServerError } from './types';

const settings = () => ServerConnection.makeSettings();

/** The server's own words on failure: {"message", "reason"}; anything else (an HTML page from a
 * proxy, a traceback) is reduced to the status line so no stack trace reaches the panel. */
async function errorOf(response: Response): Promise<ServerError> {
  try {
    const body = await response.json();
    if (body && typeof body.message === 'string') {
      return new ServerError(body.message, body.reason ?? null, response.status);
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return new ServerError(
    `the server answered ${response.status} ${response.statusText}`.trim(),
    null,
    response.status
  );
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const s = settings();
  const url = URLExt.join(s.baseUrl, path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, s);
  } catch (err) {
    throw new ServerError(`cannot reach this Jupyter server (${(err as Error).message})`, 'network', 0);
  }
  if (!response.ok) {
    throw await errorOf(response);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

const query = (params: Record<string, string>) => '?' + new URLSearchParams(params).toString();

export const restApi: MlopsApi = {
  context: () => request('mlops-hub/context'),
  gitStatus: path => request('mlops-hub/git/status' + query({ path })),
  runs: (path, allUsers, maxResults, pageToken) =>
    request(
      'mlops-hub/mlflow/runs' +
        query({
          path,
          max_results: String(maxResults),
          ...(allUsers ? { all_users: 'true' } : {}),
          ...(pageToken ? { page_token: pageToken } : {})
        })
    ),
  save: body => request('mlops-hub/gitlab/save', { method: 'POST', body: JSON.stringify(body) }),
  saveToken: token => request('mlops-hub/gitlab/token', { method: 'PUT', body: JSON.stringify({ token }) }),
  // jupyter-resource-usage measures; without it the status bar shows the limits only
  usage: () => request<any>('api/metrics/v1').catch(() => null),
  jobs: () => request<{ jobs: Job[] }>('mlops-hub/jobs').then(r => r.jobs),
  scheduleJob: body =>
    request<{ job: Job }>('mlops-hub/jobs', { method: 'POST', body: JSON.stringify(body) }).then(r => r.job),
  jobDetail: (id, limit, offset) =>
    request(`mlops-hub/jobs/${encodeURIComponent(id)}` + query({ limit: String(limit), offset: String(offset) })),
  runJobNow: id =>
    request<{ run: JobRun }>(`mlops-hub/jobs/${encodeURIComponent(id)}/runs`, { method: 'POST', body: '{}' }).then(
      r => r.run
    ),
  setJobPaused: (id, paused) =>
    request<{ job: Job }>(`mlops-hub/jobs/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body: JSON.stringify({ paused })
    }).then(r => r.job),
  deleteJob: id => request(`mlops-hub/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  jobLog: (id, runId, token) =>
    request(
      `mlops-hub/jobs/${encodeURIComponent(id)}/runs/${encodeURIComponent(runId)}/log` +
        query(token ? { token } : {})
    ),
  releaseModel: body =>
    request<{ release: ModelRelease }>('mlops-hub/models/releases', {
      method: 'POST',
      body: JSON.stringify(body)
    }).then(r => r.release)
};
