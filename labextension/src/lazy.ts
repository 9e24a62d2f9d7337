/** A sidebar widget whose content module is fetched and built the first time it is shown,
 * so JupyterLab's start-up does no work for the panel. */
import { Panel, Widget } from '@lumino/widgets';
import { Message } from '@lumino/messaging';

export class LazyPanel<T extends Widget> extends Panel {
  private loading: Promise<T> | null = null;

  constructor(private create: () => Promise<T>) {
    super();
  }

  /** The content, created on first use. */
  content(): Promise<T> {
    if (!this.loading) {
      this.loading = this.create().then(widget => {
        this.addWidget(widget);
        return widget;
      });
    }
    return this.loading;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.content();
  }
}
