/** Two runs' params and metrics side by side; differing rows are marked. */
import React from 'react';

import { formatValue, unionKeys } from './format';
import { RunSummary } from './types';

function Rows({ title, a, b }: { title: string; a: Record<string, any>; b: Record<string, any> }) {
  const keys = unionKeys(a, b);
  return (
    <>
      <tr>
        <th colSpan={3} scope="colgroup" className="jp-mlops-compare-group">
          {title}
        </th>
      </tr>
      {keys.map(key => {
        const differs = formatValue(a[key]) !== formatValue(b[key]);
        return (
          <tr key={title + key} className={differs ? 'jp-mlops-differs' : undefined}>
            <th scope="row">{key}</th>
            <td>{formatValue(a[key])}</td>
            <td>{formatValue(b[key])}</td>
          </tr>
        );
      })}
    </>
  );
}

export function CompareView(props: { a: RunSummary; b: RunSummary; onClose: () => void }): JSX.Element {
  const { a, b } = props;
  const label = (run: RunSummary) => run.run_name || run.run_id.slice(0, 8);
  return (
    <div className="jp-mlops-compare">
      <table className="jp-mlops-table" aria-label="Two runs compared">
        <thead>
          <tr>
            <th scope="col">
              <span className="jp-mlops-sr-only">Param or metric</span>
            </th>
            <th scope="col">
              <a href={a.url} target="_blank" rel="noreferrer">
                {label(a)}
              </a>
            </th>
            <th scope="col">
              <a href={b.url} target="_blank" rel="noreferrer">
                {label(b)}
              </a>
            </th>
          </tr>
        </thead>
        <tbody>
          <Rows title="Params" a={a.params} b={b.params} />
          <Rows title="Metrics" a={a.metrics} b={b.metrics} />
        </tbody>
      </table>
      <button className="jp-mlops-button" onClick={props.onClose}>
        Close comparison
      </button>
    </div>
  );
}
