/** The mlops-hub JupyterLab plugins: the MLOps side panel with its commands, and the status bar item. */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { mlopsIcon } from './icon';
import { LazyPanel } from './lazy';
import type { MlopsPanel } from './panel';
import { DEFAULT_SETTINGS, PanelSettings } from './types';

const PLUGIN_ID = 'mlops-hub:plugin';
const CATEGORY = 'MLOps';
export const COMMANDS = {
  open: 'mlops-hub:open-panel',
  refresh: 'mlops-hub:refresh-runs',
  save: 'mlops-hub:save-to-gitlab',
  schedule: 'mlops-hub:schedule-notebook'
};

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The MLOps side panel: the active notebook\'s MLflow runs, saving it to GitLab, scheduling it.',
  autoStart: true,
  requires: [INotebookTracker, ILabShell],
  optional: [ICommandPalette, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    shell: ILabShell,
    palette: ICommandPalette | null,
    registry: ISettingRegistry | null
  ) => {
    let settings: PanelSettings = { ...DEFAULT_SETTINGS };
    let panel: MlopsPanel | null = null;
    // the panel's code is a separate chunk, fetched the first time the panel is shown
    const sidebar = new LazyPanel<MlopsPanel>(async () => {
      const { MlopsPanel } = await import('./panel');
      panel = new MlopsPanel(tracker, () => settings, path => void app.commands.execute('docmanager:open', { path }));
      return panel;
    });
    sidebar.id = 'mlops-hub-panel';
    sidebar.title.icon = mlopsIcon;
    sidebar.title.caption = 'MLOps: runs, GitLab and schedules';
    sidebar.node.setAttribute('aria-label', 'MLOps panel');
    shell.add(sidebar, 'right', { rank: 600 });

    if (registry) {
      void Promise.all([registry.load(PLUGIN_ID), app.restored]).then(([loaded]) => {
        const apply = () => {
          settings = { ...DEFAULT_SETTINGS, ...(loaded.composite as unknown as Partial<PanelSettings>) };
          panel?.update(); // never creates the panel: nothing runs before it is opened
        };
        loaded.changed.connect(apply);
        apply();
      }).catch(reason => console.warn('mlops-hub: settings not loaded', reason));
    }

    app.commands.addCommand(COMMANDS.open, {
      label: 'Open the MLOps panel',
      icon: mlopsIcon,
      execute: () => shell.activateById(sidebar.id)
    });
    app.commands.addCommand(COMMANDS.refresh, {
      label: 'Refresh the notebook\'s MLflow runs',
      execute: async () => {
        shell.activateById(sidebar.id);
        (await sidebar.content()).refresh();
      }
    });
    app.commands.addCommand(COMMANDS.save, {
      label: 'Save the notebook to GitLab…',
      execute: async () => {
        shell.activateById(sidebar.id);
        await sidebar.content();
        sidebar.node.querySelector<HTMLInputElement>('.jp-mlops-git input')?.focus();
      }
    });
    app.commands.addCommand(COMMANDS.schedule, {
      label: 'Schedule the notebook…',
      execute: async () => {
        shell.activateById(sidebar.id);
        await sidebar.content();
        sidebar.node.querySelector<HTMLElement>('.jp-mlops-schedule select, .jp-mlops-schedule button')?.focus();
      }
    });
    for (const command of Object.values(COMMANDS)) {
      palette?.addItem({ command, category: CATEGORY });
    }
  }
};

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'mlops-hub:status',
  description: 'This server\'s environment and limits, with memory and CPU use (from jupyter-resource-usage).',
  autoStart: true,
  requires: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar) => {
    // after the lab has drawn itself: nothing is fetched on the start-up path
    void app.restored.then(async () => {
      const { MlopsStatus } = await import('./statusbar');
      const item = new MlopsStatus();
      statusBar.registerStatusItem('mlops-hub:status', { item, align: 'left', rank: 4 });
      item.start();
    });
  }
};

export default [panelPlugin, statusPlugin];
