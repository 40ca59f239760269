/**
 * The left sidebar "ML Tracker": the store in use, experiments and their runs (live
 * status, key metrics, start time), a search box with the filter grammar, per-run
 * actions, and the registry's models with versions, stages and aliases.
 */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { IExperiment, IModel, IRun, MLTrackApi } from './api';
import { badge, errorNotice, formatNumber, formatTime, h, notice } from './dom';
import { CommandIDs } from './tokens';

/** Metrics shown on a run's line in the sidebar. */
const KEY_METRICS = 2;

export class MLTrackSidebar extends Widget {
  constructor(
    private _api: MLTrackApi,
    private _commands: CommandRegistry
  ) {
    super();
    this.id = 'mltrack-sidebar';
    this.addClass('mlt');
    this.addClass('mltrack-sidebar');
    this.title.caption = 'ML Tracker';
    this._search = h('input', {
      class: 'mltrack-search jp-mod-styled',
      type: 'search',
      spellcheck: false,
      placeholder: "Filter: metrics.acc > 0.9 AND params.lr = '0.01'",
      title:
        'The search grammar of search_runs(): metrics.<key>, params.<key>, tags.<key>, ' +
        'attributes.status...; AND, OR, NOT, parentheses. Enter to search.',
      onkeydown: (event: KeyboardEvent) => {
        if (event.key === 'Enter') {
          this._filter = this._search.value.trim();
          void this.refresh();
        }
      },
      onsearch: () => {
        this._filter = this._search.value.trim();
        void this.refresh();
      }
    });
    this._store = h('div', { class: 'mlt-muted mlt-mono mltrack-store' });
    this._compare = h(
      'button',
      {
        class: 'mlt-link mltrack-compare-selected',
        disabled: true,
        onclick: () => {
          void this._commands.execute(CommandIDs.compareRuns, {
            runIds: [...this._selected]
          });
        }
      },
      'Compare selected'
    );
    this._body = h('div', { class: 'mltrack-runs' });
    this._registry = h('div', { class: 'mltrack-models' });
    this._error = h('div', { class: 'mltrack-error' });
    this.node.append(
      h(
        'div',
        { class: 'mltrack-sidebar-head' },
        h(
          'div',
          { class: 'mlt-header' },
          h('span', { class: 'mlt-title' }, 'ML Tracker'),
          h(
            'button',
            {
              class: 'mlt-link',
              title: 'Open the dashboard: runs table, charts, registry',
              onclick: () =>
                void this._commands.execute(CommandIDs.openDashboard, {})
            },
            'Dashboard'
          ),
          h(
            'button',
            {
              class: 'mlt-link',
              title: 'Read the store again',
              onclick: () => void this.refresh()
            },
            'Refresh'
          )
        ),
        this._store,
        this._search,
        this._error
      ),
      h(
        'div',
        { class: 'mltrack-sidebar-scroll' },
        h(
          'div',
          { class: 'mlt-section mltrack-section-row' },
          h('span', {}, 'Experiments'),
          this._compare
        ),
        this._body,
        h('div', { class: 'mlt-section' }, 'Registry'),
        this._registry
      )
    );
  }

  /** Runs of the last refresh, by id. */
  get runs(): Map<string, IRun> {
    return this._runs;
  }

  /** Read the store again and redraw (skipped while a refresh is under way). */
  async refresh(): Promise<void> {
    if (this._busy) {
      return;
    }
    this._busy = true;
    try {
      const [store, experiments, models] = await Promise.all([
        this._api.store(),
        this._api.experiments(),
        this._api.models()
      ]);
      this._store.textContent = store.label;
      this._store.title = store.tracking_uri;
      let runs: IRun[] = [];
      this._error.replaceChildren();
      try {
        runs = await this._api.runs([], this._filter);
      } catch (error) {
        this._error.replaceChildren(errorNotice(error));
      }
      this._runs = new Map(runs.map(r => [r.run_id, r]));
      this._renderRuns(experiments, runs);
      this._renderModels(models);
    } catch (error) {
      this._error.replaceChildren(errorNotice(error));
    } finally {
      this._busy = false;
    }
  }

  private _renderRuns(experiments: IExperiment[], runs: IRun[]): void {
    for (const id of [...this._selected]) {
      if (!this._runs.has(id)) {
        this._selected.delete(id);
      }
    }
    this._compare.disabled = this._selected.size < 1;
    const byExperiment = new Map<string, IRun[]>();
    for (const run of runs) {
      const list = byExperiment.get(run.experiment_id) ?? [];
      list.push(run);
      byExperiment.set(run.experiment_id, list);
    }
    if (!experiments.length) {
      this._body.replaceChildren(
        notice(
          'No experiments yet. Run a %%track cell or mltrack.start_run() in a notebook.'
        )
      );
      return;
    }
    const sections = experiments
      .filter(e => !this._filter || byExperiment.has(e.experiment_id))
      .map(e => this._experiment(e, byExperiment.get(e.experiment_id) ?? []));
    this._body.replaceChildren(
      ...(sections.length ? sections : [notice('No run matches the filter.')])
    );
  }

  private _experiment(experiment: IExperiment, runs: IRun[]): HTMLElement {
    const open = !this._collapsed.has(experiment.experiment_id);
    const details = h(
      'details',
      {
        class: 'mltrack-experiment',
        'data-experiment': experiment.name,
        open
      },
      h(
        'summary',
        {},
        h('span', { class: 'mltrack-experiment-name' }, experiment.name),
        h('span', { class: 'mlt-muted' }, ` ${runs.length} runs`)
      ),
      runs.length
        ? h(
            'ul',
            { class: 'mltrack-run-list' },
            runs.map(r => this._run(r))
          )
        : h('div', { class: 'mlt-muted mltrack-empty' }, 'No runs.')
    );
    details.addEventListener('toggle', () => {
      if (details.open) {
        this._collapsed.delete(experiment.experiment_id);
      } else {
        this._collapsed.add(experiment.experiment_id);
      }
    });
    return details;
  }

  private _run(run: IRun): HTMLElement {
    const metrics = Object.entries(run.metrics)
      .filter(([k]) => !k.startsWith('mltrack.'))
      .slice(0, KEY_METRICS);
    const box = h('input', {
      type: 'checkbox',
      title: 'Select for comparison',
      checked: this._selected.has(run.run_id),
      onchange: () => {
        if (box.checked) {
          this._selected.add(run.run_id);
        } else {
          this._selected.delete(run.run_id);
        }
        this._compare.disabled = this._selected.size < 1;
      }
    });
    const action = (label: string, title: string, command: string) =>
      h(
        'button',
        {
          class: `mlt-link mltrack-action-${label.toLowerCase().replace(/ /g, '-')}`,
          title,
          onclick: (event: Event) => {
            event.stopPropagation();
            void this._commands.execute(command, { runId: run.run_id });
          }
        },
        label
      );
    return h(
      'li',
      { class: 'mltrack-run', 'data-run-id': run.run_id },
      h(
        'div',
        { class: 'mltrack-run-line' },
        box,
        h(
          'span',
          {
            class: 'mltrack-run-name',
            title: `${run.name} (${run.run_id}); click to open`,
            onclick: () =>
              void this._commands.execute(CommandIDs.openRun, {
                runId: run.run_id
              })
          },
          run.name
        ),
        badge(run.status)
      ),
      h(
        'div',
        { class: 'mltrack-run-meta' },
        metrics.map(([k, v]) =>
          h(
            'span',
            { class: 'mlt-chip', title: `metrics.${k}` },
            `${k} ${formatNumber(v)}`
          )
        ),
        h('span', { class: 'mlt-muted' }, formatTime(run.start_time))
      ),
      h(
        'div',
        { class: 'mltrack-run-actions' },
        action('Open', 'Open in the dashboard', CommandIDs.openRun),
        action('Copy id', 'Copy the run id', CommandIDs.copyRunId),
        action(
          'Restore',
          'Insert a %mltrack restore cell into the active notebook',
          CommandIDs.insertRestore
        ),
        action(
          'Delete',
          'Delete the run (it can be restored)',
          CommandIDs.deleteRun
        )
      )
    );
  }

  private _renderModels(models: IModel[]): void {
    if (!models.length) {
      this._registry.replaceChildren(
        notice(
          "No registered models yet. mltrack.register_model('runs:/<id>/model', '<name>')."
        )
      );
      return;
    }
    this._registry.replaceChildren(
      ...models.map(m =>
        h(
          'details',
          { class: 'mltrack-model', 'data-model': m.name, open: true },
          h(
            'summary',
            {},
            h(
              'span',
              {
                class: 'mltrack-model-name',
                title: 'Open in the dashboard',
                onclick: (event: Event) => {
                  event.preventDefault();
                  void this._commands.execute(CommandIDs.openModel, {
                    name: m.name
                  });
                }
              },
              m.name
            ),
            h('span', { class: 'mlt-muted' }, ` ${m.versions.length} versions`)
          ),
          h(
            'ul',
            { class: 'mltrack-version-list' },
            m.versions.map(v =>
              h(
                'li',
                { class: 'mltrack-version', 'data-version': v.version },
                h('b', {}, `v${v.version}`),
                ' ',
                badge(v.stage),
                v.aliases.map(a => h('span', { class: 'mlt-chip' }, `@${a}`))
              )
            )
          )
        )
      )
    );
  }

  private _search: HTMLInputElement;
  private _store: HTMLElement;
  private _compare: HTMLButtonElement;
  private _body: HTMLElement;
  private _registry: HTMLElement;
  private _error: HTMLElement;
  private _filter = '';
  private _busy = false;
  private _runs = new Map<string, IRun>();
  private _selected = new Set<string>();
  private _collapsed = new Set<string>();
}
