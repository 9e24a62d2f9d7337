/** The "Serve a model" section: release a registered MLflow model version or alias as the service
 * `model-<name>`, through the hub (docs/models.md). The answer comes when Swarm has judged the rollout. */
import React, { useState } from 'react';

import { ErrorNote } from './errornote';
import { MlopsApi, ModelRelease } from './types';

const MODEL_REF = /^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?(?:@[A-Za-z0-9_-]{1,64}|\/\d{1,9})$/;

export function ReleaseView({ api }: { api: MlopsApi }): JSX.Element {
  const [model, setModel] = useState('');
  const [replicas, setReplicas] = useState(1);
  const [busy, setBusy] = useState<string | null>(null);
  const [done, setDone] = useState<ModelRelease | null>(null);
  const [error, setError] = useState<unknown>(null);
  const ref = model.trim();
  const valid = MODEL_REF.test(ref);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!valid || busy) {
      return;
    }
    setBusy(`Releasing ${ref}: building its image and rolling it out (up to a few minutes)…`);
    setDone(null);
    setError(null);
    try {
      setDone(await api.releaseModel({ model: ref, replicas }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return (
    <form className="jp-mlops-form" onSubmit={submit} aria-label="Serve a model">
      <label>
        Registered model (<code>name@alias</code> or <code>name/version</code>)
        <input value={model} placeholder="churn@champion" onChange={e => setModel(e.currentTarget.value)}
          aria-invalid={ref !== '' && !valid} />
      </label>
      {ref !== '' && !valid && (
        <p className="jp-mlops-error" role="alert">
          A model name (lowercase letters, digits, -) then @alias or /version, e.g. churn@champion or churn/3.
        </p>
      )}
      <label>
        Replicas
        <input type="number" min={1} max={8} value={replicas} onChange={e => setReplicas(Number(e.currentTarget.value))} />
      </label>
      <button type="submit" className="jp-mlops-button jp-mod-accept" disabled={!valid || busy !== null}>
        Release
      </button>
      <p className="jp-mlops-hint" aria-live="polite">
        {busy ??
          (done
            ? `${done.service}: version ${done.version} answers (${done.state}) at ${done.url}`
            : 'Serves the model with the packages it was trained with; a broken version is rolled back by itself.')}
      </p>
      <ErrorNote error={error} />
    </form>
  );
}
