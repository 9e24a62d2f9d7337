/** The panel's Lumino widget: follows the active notebook and the settings; loaded on first show. */
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React from 'react';

import { restApi } from './client';
import { PanelSettings } from './types';
import { PanelView } from './view';

export class MlopsPanel extends ReactWidget {
  private refreshTick = 0;

  constructor(
    private tracker: INotebookTracker,
    private settings: () => PanelSettings,
    private openPath: (path: string) => void
  ) {
    super();
    this.addClass('jp-mlops-panel-widget');
    tracker.currentChanged.connect(() => this.update(), this);
    // a rename or "save as" changes the path of the same notebook
    tracker.currentChanged.connect((_, nb) => nb?.context.pathChanged.connect(() => this.update(), this));
    // a cell that ran may have logged a run: the open panel shows it without a click
    NotebookActions.executed.connect((_, { notebook }) => {
      if (notebook === this.tracker.currentWidget?.content && this.isVisible) {
        this.refresh();
      }
    }, this);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.refresh(); // runs and git status may have changed while the panel was closed
  }

  protected onUpdateRequest(msg: Message): void {
    if (this.isVisible) {
      super.onUpdateRequest(msg); // a closed panel asks the server nothing
    }
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
        openPath={this.openPath}
        saveNotebook={async () => {
          if (notebook) {
            await notebook.context.save();
          }
        }}
      />
    );
  }
}
