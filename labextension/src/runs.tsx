/** The Runs section: this notebook's MLflow runs, newest first, and a comparison of two. */
import React, { useCallback, useEffect, useState } from 'react';

import { CompareView } from './compare';
import { ErrorNote } from './errornote';
import { columnsFor, formatTime, formatValue, shortCommit } from './format';
import { MlopsApi, PanelSettings, RunSummary } from './types';

export const EMPTY_STATE_CODE = `import mlflow
with mlflow.start_run(): mlflow.log_metric("accuracy", 0.9)`;

export interface RunsViewProps {
  api: MlopsApi;
  path: string | null;
  settings: PanelSettings;
  /** bumped by the "refresh" command to reload from outside */
  refreshTick?: number;
}

function Commit({ run }: { run: RunSummary }) {
  return (
    <>
      <code title={run.git_commit ?? 'not in git'}>{shortCommit(run.git_commit)}</code>
      {run.uncommitted_changes && <span className="jp-mlops-badge"> uncommitted</span>}
    </>
  );
}

export function RunsView({ api, path, settings, refreshTick = 0 }: RunsViewProps): JSX.Element {
  const [allUsers, setAllUsers] = useState(false);
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState<string[]>([]);
  const [comparing, setComparing] = useState(false);
  const [nextPage, setNextPage] = useState<string | null>(null);

  const load = useCallback(async () => {
    if (!path) {
      return;
    }
    setLoading(true);
    setError(null);
    try {
      const page = await api.runs(path, allUsers, settings.maxRuns);
      setRuns(page.runs);
      setNextPage(page.next_page_token);
    } catch (err) {
      setError(err);
      setRuns(null);
      setNextPage(null);
    } finally {
      setLoading(false);
    }
  }, [api, path, allUsers, settings.maxRuns]);

  const loadOlder = async () => {
    if (!path || !nextPage) {
      return;
    }
    setLoading(true);
    setError(null);
    try {
      const page = await api.runs(path, allUsers, settings.maxRuns, nextPage);
      setRuns(current => [...(current ?? []), ...page.runs]);
      setNextPage(page.next_page_token);
    } catch (err) {
      setError(err); // the runs already shown stay
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setSelected([]);
    setComparing(false);
    void load();
  }, [load, refreshTick]);

  if (!path) {
    return <p className="jp-mlops-hint">Open a notebook to see its runs.</p>;
  }
  const toggle = (id: string) =>
    setSelected(current =>
      current.includes(id) ? current.filter(x => x !== id) : [...current, id].slice(-2)
    );
  const cols = columnsFor(runs ?? [], settings);
  const chosen = (runs ?? []).filter(r => selected.includes(r.run_id));

  return (
    <div className="jp-mlops-runs">
      <div className="jp-mlops-toolbar">
        <label>
          <input
            type="checkbox"
            checked={allUsers}
            onChange={e => setAllUsers(e.currentTarget.checked)}
          />{' '}
          Everyone&apos;s runs
        </label>
        <button className="jp-mlops-button" onClick={() => void load()} disabled={loading} aria-label="Refresh runs">
          {loading ? 'Loading…' : 'Refresh'}
        </button>
        <button
          className="jp-mlops-button"
          disabled={chosen.length !== 2}
          onClick={() => setComparing(true)}
          aria-label="Compare the two selected runs"
        >
          Compare
        </button>
      </div>
      <ErrorNote error={error} />
      {comparing && chosen.length === 2 && (
        <CompareView a={chosen[0]} b={chosen[1]} onClose={() => setComparing(false)} />
      )}
      {runs && runs.length === 0 && (
        <div className="jp-mlops-empty">
          <p>{allUsers ? 'No runs of this notebook yet.' : 'You have no runs of this notebook yet.'} Log one from a cell:</p>
          <pre>{EMPTY_STATE_CODE}</pre>
        </div>
      )}
      {runs && runs.length > 0 && (
        <table className="jp-mlops-table" aria-label="Runs of this notebook, newest first">
          <thead>
            <tr>
              <th scope="col">
                <span className="jp-mlops-sr-only">Select</span>
              </th>
              <th scope="col">Time</th>
              <th scope="col">Status</th>
              {allUsers && <th scope="col">User</th>}
              {cols.metrics.map(k => (
                <th scope="col" key={'m' + k} title="metric">{k}</th>
              ))}
              {cols.params.map(k => (
                <th scope="col" key={'p' + k} title="param" className="jp-mlops-param">{k}</th>
              ))}
              <th scope="col">Commit</th>
            </tr>
          </thead>
          <tbody>
            {runs.map(run => (
              <tr key={run.run_id} className="jp-mlops-run">
                <td>
                  <input
                    type="checkbox"
                    checked={selected.includes(run.run_id)}
                    onChange={() => toggle(run.run_id)}
                    aria-label={`Select run ${run.run_name || run.run_id} to compare`}
                  />
                </td>
                <td>
                  <a href={run.url} target="_blank" rel="noreferrer" title="Open this run in MLflow">
                    {formatTime(run.start_time)}
                  </a>
                </td>
                <td>{run.status ?? '-'}</td>
                {allUsers && <td>{run.user ?? '-'}</td>}
                {cols.metrics.map(k => (
                  <td key={'m' + k}>{formatValue(run.metrics[k])}</td>
                ))}
                {cols.params.map(k => (
                  <td key={'p' + k}>{formatValue(run.params[k])}</td>
                ))}
                <td>
                  <Commit run={run} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {runs && nextPage && (
        <button className="jp-mlops-button" type="button" onClick={() => void loadOlder()} disabled={loading}>
          Show older runs
        </button>
      )}
    </div>
  );
}
