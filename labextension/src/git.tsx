/** The Git section: where the notebook stands in git, and "Save to GitLab". */
import React, { useCallback, useEffect, useState } from 'react';

import { ErrorNote } from './errornote';
import { shortCommit } from './format';
import { GitStatus, MlopsApi, PanelSettings, SaveResult, ServerError } from './types';

export interface GitViewProps {
  api: MlopsApi;
  path: string | null;
  settings: PanelSettings;
  /** saves the open notebook to disk: the server commits the file as it is on disk */
  saveNotebook: () => Promise<void>;
  /** bumped when the panel is reopened, to reload the status */
  refreshTick?: number;
}

type Step = 'idle' | 'saving-notebook' | 'pushing' | 'done';
const STEP_TEXT: Record<Step, string> = {
  idle: '',
  'saving-notebook': 'Saving the notebook…',
  pushing: 'Committing and pushing to GitLab…',
  done: 'Saved to GitLab.'
};
const TOKEN_REASONS = ['gitlab-token-missing', 'gitlab-token-refused'];

function StatusTable({ status }: { status: GitStatus }) {
  return (
    <dl className="jp-mlops-facts" aria-label="Git status of this notebook">
      <dt>Repository</dt>
      <dd>{status.remote_url ?? status.repository}</dd>
      <dt>Branch</dt>
      <dd>{status.branch ?? '(detached)'}</dd>
      <dt>Commit</dt>
      <dd>
        <code>{shortCommit(status.commit)}</code>
      </dd>
      <dt>Changes</dt>
      <dd>{!status.tracked ? 'never committed' : status.uncommitted_changes ? 'uncommitted changes' : 'none'}</dd>
    </dl>
  );
}

function TokenForm({ api, onSaved }: { api: MlopsApi; onSaved: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    try {
      await api.saveToken(token);
      setToken('');
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="jp-mlops-form" onSubmit={submit}>
      <label>
        GitLab personal access token (kept in this server&apos;s memory only)
        <input type="password" value={token} onChange={e => setToken(e.currentTarget.value)} autoComplete="off" />
      </label>
      <button className="jp-mlops-button" type="submit" disabled={!token.trim()}>
        Use this token
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

function Links({ result }: { result: SaveResult }) {
  return (
    <div className="jp-mlops-result" role="status">
      <p>
        {result.committed ? 'Committed' : 'No changes; pushed'}{' '}
        <a href={result.commit_url} target="_blank" rel="noreferrer" className="jp-mlops-commit-link">
          {shortCommit(result.commit)}
        </a>{' '}
        to <a href={result.branch_url} target="_blank" rel="noreferrer">{result.project}@{result.branch}</a>
      </p>
      {result.merge_request && (
        <p>
          <a href={result.merge_request.url} target="_blank" rel="noreferrer" className="jp-mlops-mr-link">
            Merge request !{result.merge_request.iid}
          </a>{' '}
          {result.merge_request.created ? '(opened)' : '(already open)'}
        </p>
      )}
    </div>
  );
}

export function GitView({ api, path, settings, saveNotebook, refreshTick = 0 }: GitViewProps): JSX.Element {
  const [status, setStatus] = useState<GitStatus | null>(null);
  const [statusError, setStatusError] = useState<unknown>(null);
  const [message, setMessage] = useState('');
  const [branch, setBranch] = useState('');
  const [strip, setStrip] = useState(settings.stripOutputs);
  const [mr, setMr] = useState(settings.openMergeRequest);
  const [step, setStep] = useState<Step>('idle');
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<SaveResult | null>(null);

  const loadStatus = useCallback(async () => {
    if (!path) {
      return;
    }
    setStatusError(null);
    try {
      setStatus(await api.gitStatus(path));
    } catch (err) {
      setStatus(null);
      setStatusError(err);
    }
  }, [api, path]);

  useEffect(() => {
    setResult(null);
    setError(null);
  }, [path]);

  useEffect(() => {
    void loadStatus();
  }, [loadStatus, refreshTick]);

  if (!path) {
    return <p className="jp-mlops-hint">Open a notebook to see its git status.</p>;
  }
  const busy = step === 'saving-notebook' || step === 'pushing';
  const save = async (e?: React.FormEvent) => {
    e?.preventDefault();
    setError(null);
    setResult(null);
    try {
      setStep('saving-notebook');
      await saveNotebook();
      setStep('pushing');
      const saved = await api.save({
        path,
        message,
        strip_outputs: strip,
        merge_request: mr,
        ...(branch.trim() ? { branch: branch.trim() } : {})
      });
      setResult(saved);
      setStep('done');
      void loadStatus();
    } catch (err) {
      setError(err);
      setStep('idle');
    }
  };
  const needsToken = error instanceof ServerError && TOKEN_REASONS.includes(error.reason ?? '');

  return (
    <div className="jp-mlops-git">
      {status && <StatusTable status={status} />}
      <ErrorNote error={statusError} />
      {status && (
        <form className="jp-mlops-form" onSubmit={save} aria-label="Save to GitLab">
          <label>
            Commit message
            <input value={message} onChange={e => setMessage(e.currentTarget.value)} required />
          </label>
          <label>
            Branch (empty: the current one)
            <input value={branch} onChange={e => setBranch(e.currentTarget.value)} placeholder={status.branch ?? ''} />
          </label>
          <label>
            <input type="checkbox" checked={strip} onChange={e => setStrip(e.currentTarget.checked)} /> Strip outputs
          </label>
          <label>
            <input type="checkbox" checked={mr} onChange={e => setMr(e.currentTarget.checked)} /> Open a merge request
          </label>
          <button className="jp-mlops-button jp-mod-accept" type="submit" disabled={busy || !message.trim()}>
            Save to GitLab
          </button>
        </form>
      )}
      {step !== 'idle' && step !== 'done' && (
        <p className="jp-mlops-progress" role="status" aria-live="polite">
          {STEP_TEXT[step]}
        </p>
      )}
      <ErrorNote error={error} />
      {needsToken && <TokenForm api={api} onSaved={() => void save()} />}
      {result && <Links result={result} />}
    </div>
  );
}
