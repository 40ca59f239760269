/** The status-bar item: the active run of the current notebook's kernel. */
import { INotebookTracker } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { MLTrackApi } from './api';
import { h, runDuration } from './dom';

export class ActiveRunStatus extends Widget {
  constructor(
    private _api: MLTrackApi,
    private _notebooks: INotebookTracker
  ) {
    super();
    this.addClass('mltrack-status');
    this.addClass('mlt');
    this._notebooks.currentChanged.connect(() => void this.refresh());
  }

  /** Ask the store for the RUNNING run of the current notebook's kernel. */
  async refresh(): Promise<void> {
    const kernel =
      this._notebooks.currentWidget?.sessionContext.session?.kernel;
    if (!kernel) {
      this._show(null);
      return;
    }
    try {
      const { run } = await this._api.activeRun(kernel.id);
      this._show(run);
    } catch {
      this._show(null);
    }
  }

  private _show(
    run: { name: string; run_id: string; start_time: number } | null
  ): void {
    if (!run) {
      this.node.replaceChildren();
      this.node.title = '';
      return;
    }
    this.node.title = `ML Tracker: run ${run.run_id} of this notebook is running`;
    this.node.replaceChildren(
      h(
        'span',
        { class: 'mlt-badge mlt-live mlt-badge-RUNNING' },
        h('span', { class: 'mlt-dot' })
      ),
      h('span', { class: 'mltrack-status-name' }, ` ${run.name} `),
      h('span', { class: 'mlt-muted' }, runDuration(run.start_time, null))
    );
  }
}
