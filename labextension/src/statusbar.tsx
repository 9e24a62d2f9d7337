/** The status bar item: context once, jupyter-resource-usage's measurement every few seconds. */
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { restApi } from './client';
import { StatusView } from './statusview';
import { ResourceUsage, ServerContext } from './types';

const POLL_MS = 5000;

export class MlopsStatus extends ReactWidget {
  private context: ServerContext | null = null;
  private usage: ResourceUsage | null = null;
  private timer: number | undefined;

  start(): void {
    restApi.context().then(
      c => {
        this.context = c;
        this.update();
      },
      () => undefined // the panel shows server errors; the status bar just stays short
    );
    const poll = async () => {
      if (document.visibilityState === 'visible') {
        this.usage = await restApi.usage();
        this.update();
      }
    };
    void poll();
    this.timer = window.setInterval(poll, POLL_MS);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    super.dispose();
  }

  render(): JSX.Element {
    return <StatusView context={this.context} usage={this.usage} />;
  }
}
