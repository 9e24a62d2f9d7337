/** The panel's Lumino widget: follows the active notebook and the settings; loaded on first show. */
import { INotebookTracker } from '@jupyterlab/notebook';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { restApi } from './client';
import { PanelSettings } from './types';
import { PanelView } from './view';

export class MlopsPanel extends ReactWidget {
  private refreshTick = 0;

  constructor(
    private tracker: INotebookTracker,
    private settings: () => PanelSettings
  ) {
    super();
    this.addClass('jp-mlops-panel-widget');
    tracker.currentChanged.connect(() => this.update(), this);
    // a rename or "save as" changes the path of the same notebook
    tracker.currentChanged.connect((_, nb) => nb?.context.pathChanged.connect(() => this.update(), this));
  }

  refresh(): void {
    this.refreshTick += 1;
    this.update();
  }

  render(): JSX.Element {
    const notebook = this.tracker.currentWidget;
    return (
      <PanelView
        api={restApi}
        path={notebook?.context.path ?? null}
        settings={this.settings()}
        refreshTick={this.refreshTick}
        saveNotebook={async () => {
          if (notebook) {
            await notebook.context.save();
          }
        }}
      />
    );
  }
}
