/** The side panel's content for one notebook: its Runs, Git and Schedule sections, and serving a model. */
import React from 'react';

import { GitView } from './git';
import { ScheduleView } from './jobs';
import { ReleaseView } from './models';
import { RunsView } from './runs';
import { MlopsApi, PanelSettings } from './types';

export interface PanelViewProps {
  api: MlopsApi;
  path: string | null;
  settings: PanelSettings;
  refreshTick: number;
  saveNotebook: () => Promise<void>;
  openPath: (path: string) => void;
}

export function PanelView(props: PanelViewProps): JSX.Element {
  const { api, path, settings } = props;
  return (
    <div className="jp-mlops-panel">
      <p className="jp-mlops-notebook" title={path ?? ''}>
        {path ? path.split('/').pop() : 'No notebook open'}
      </p>
      <section aria-labelledby="jp-mlops-runs-heading">
        <h2 id="jp-mlops-runs-heading">Runs</h2>
        <RunsView api={api} path={path} settings={settings} refreshTick={props.refreshTick} />
      </section>
      <section aria-labelledby="jp-mlops-git-heading">
        <h2 id="jp-mlops-git-heading">Git</h2>
        <GitView api={api} path={path} settings={settings} saveNotebook={props.saveNotebook} refreshTick={props.refreshTick} />
      </section>
      <section aria-labelledby="jp-mlops-schedule-heading">
        <h2 id="jp-mlops-schedule-heading">Schedule</h2>
        <ScheduleView api={api} path={path} saveNotebook={props.saveNotebook} openPath={props.openPath}
          refreshTick={props.refreshTick} />
      </section>
      <section aria-labelledby="jp-mlops-models-heading">
        <h2 id="jp-mlops-models-heading">Serve a model</h2>
        <ReleaseView api={api} />
      </section>
    </div>
  );
}
