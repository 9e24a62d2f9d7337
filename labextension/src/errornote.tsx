/** A server error as the server worded it: its message and its reason slug. */
import React from 'react';

import { ServerError } from './types';

export function ErrorNote({ error }: { error: unknown }): JSX.Element | null {
  if (!error) {
    return null;
  }
  const message = error instanceof Error ? error.message : String(error);
  const reason = error instanceof ServerError ? error.reason : null;
  return (
    <div className="jp-mlops-error" role="alert">
      {message}
      {reason && <span className="jp-mlops-reason"> ({reason})</span>}
    </div>
  );
}
