/**
 * The main-area dashboard: an experiment's runs table and metric chart, a run's detail
 * with its artifacts, and the model registry with Promote / Archive / Rollback /
 * Approve, each behind the same confirmation as the notebook's registry_panel().
 */
import { Widget } from '@lumino/widgets';
import { Result } from 'vega-embed';

import { IModelDetail, IRun, IRunDetail, MLTrackApi } from './api';
import { RUN_COLORS, lineChart, themeConfig } from './charts';
import {
  badge,
  errorNotice,
  formatNumber,
  formatSize,
  formatTime,
  h,
  notice,
  runDuration
} from './dom';

type View = 'runs' | 'run' | 'registry';
const MAX_CHART_RUNS = 10;
const MAX_COLUMNS = 8;

export class MLTrackDashboard extends Widget {
  /** `storeChanged` runs after the dashboard changed the store (the sidebar redraws). */
  constructor(
    private _api: MLTrackApi,
    private _storeChanged: () => void = () => undefined
  ) {
    super();
    this.id = 'mltrack-dashboard';
    this.addClass('mlt');
    this.addClass('mltrack-dashboard');
    this.title.label = 'ML Tracker';
    this.title.closable = true;
    this._tabs = h('div', { class: 'mltrack-tabs' });
    this._panes = {
      runs: h('div', { class: 'mltrack-pane mltrack-pane-runs' }),
      run: h('div', { class: 'mltrack-pane mltrack-pane-run' }),
      registry: h('div', { class: 'mltrack-pane mltrack-pane-registry' })
    };
    this._buildRunsPane();
    this.node.append(
      this._tabs,
      this._panes.runs,
      this._panes.run,
      this._panes.registry
    );
    this._renderTabs();
  }

  /** The view shown: runs, run or registry. */
  get view(): View {
    return this._view;
  }

  /** Show an experiment's runs (its name or id; the first experiment by default). */
  async showRuns(experimentId?: string, selected?: string[]): Promise<void> {
    if (experimentId !== undefined) {
      this._experimentId = experimentId;
    }
    if (selected) {
      this._chartSelection = new Set(selected);
    }
    this._setView('runs');
    await this.refresh();
  }

  /** Show one run with its params, metrics, tags and artifacts. */
  async showRun(runId: string): Promise<void> {
    this._runId = runId;
    this._artifactPath = '';
    this._setView('run');
    await this.refresh();
  }

  /** Show the registry view of one model (the first one by default). */
  async showModel(name?: string): Promise<void> {
    if (name) {
      this._modelName = name;
    }
    this._setView('registry');
    await this.refresh();
  }

  /** Redraw the current view from the store. */
  async refresh(): Promise<void> {
    try {
      if (this._view === 'runs') {
        await this._refreshRuns();
      } else if (this._view === 'run') {
        await this._refreshRun();
      } else {
        await this._refreshRegistry();
      }
    } catch (error) {
      this._panes[this._view].replaceChildren(errorNotice(error));
      if (this._view === 'runs') {
        this._buildRunsPane();
      }
    }
  }

  /** The periodic refresh: only the runs view follows the store on its own (the run
   * and registry views keep what the user typed or opened until they act). */
  async liveRefresh(): Promise<void> {
    if (this._view === 'runs') {
      await this.refresh();
    }
  }

  /** Redraw charts in the current theme's colors. */
  themeChanged(): void {
    this._chartKey = '';
    // The theme's stylesheet may still be loading when the signal comes: draw now and
    // once more after the next frames (the key holds the colors, so only a change
    // redraws).
    const redraw = (): void => {
      if (this._view === 'runs') {
        void this._drawChart();
      }
    };
    redraw();
    window.setTimeout(redraw, 250);
    window.setTimeout(redraw, 1000);
  }

  protected onCloseRequest(msg: any): void {
    this._chart?.finalize();
    super.onCloseRequest(msg);
  }

  // -- tabs --------------------------------------------------------------------------

  private _setView(view: View): void {
    this._view = view;
    this._renderTabs();
  }

  private _renderTabs(): void {
    const tab = (view: View, label: string) =>
      h(
        'button',
        {
          class: `mltrack-tab ${this._view === view ? 'mltrack-tab-active' : ''}`,
          'data-view': view,
          onclick: () => {
            this._setView(view);
            void this.refresh();
          }
        },
        label
      );
    this._tabs.replaceChildren(
      tab('runs', 'Runs'),
      tab('run', 'Run'),
      tab('registry', 'Registry')
    );
    for (const [view, pane] of Object.entries(this._panes)) {
      pane.style.display = view === this._view ? '' : 'none';
    }
  }

  // -- runs ----------------------------------------------------------------------------

  private _buildRunsPane(): void {
    this._experimentSelect = h('select', {
      class: 'jp-mod-styled mltrack-experiment-select',
      onchange: () => {
        this._experimentId = this._experimentSelect.value;
        this._chartSelection.clear();
        void this.refresh();
      }
    });
    this._filterInput = h('input', {
      class: 'jp-mod-styled mltrack-search',
      type: 'search',
      spellcheck: false,
      placeholder: 'Filter runs: metrics.acc > 0.9',
      value: this._filter,
      onkeydown: (event: KeyboardEvent) => {
        if (event.key === 'Enter') {
          this._filter = this._filterInput.value.trim();
          void this.refresh();
        }
      }
    });
    this._metricSelect = h('select', {
      class: 'jp-mod-styled mltrack-metric-select',
      onchange: () => {
        this._metric = this._metricSelect.value;
        void this._drawChart();
      }
    });
    this._runsError = h('div');
    this._chartBox = h('div', { class: 'mltrack-chart' });
    this._table = h('div', { class: 'mlt-grid' });
    this._panes.runs.replaceChildren(
      h(
        'div',
        { class: 'mltrack-toolbar' },
        h('label', {}, 'Experiment ', this._experimentSelect),
        this._filterInput,
        h('label', {}, 'Metric ', this._metricSelect)
      ),
      this._runsError,
      h('div', { class: 'mlt-card mltrack-chart-card' }, this._chartBox),
      this._table
    );
  }

  private async _refreshRuns(): Promise<void> {
    const experiments = await this._api.experiments();
    if (
      !this._experimentId ||
      !experiments.some(
        e =>
          e.experiment_id === this._experimentId ||
          e.name === this._experimentId
      )
    ) {
      this._experimentId = experiments.length
        ? experiments[0].experiment_id
        : '';
    }
    const current = experiments.find(
      e =>
        e.experiment_id === this._experimentId || e.name === this._experimentId
    );
    this._experimentId = current ? current.experiment_id : '';
    this._experimentSelect.replaceChildren(
      ...experiments.map(e =>
        h(
          'option',
          {
            value: e.experiment_id,
            selected: e.experiment_id === this._experimentId
          },
          e.name
        )
      )
    );
    if (!current) {
      this._runsError.replaceChildren(
        notice('No experiments yet. Run a %%track cell in a notebook.')
      );
      this._table.replaceChildren();
      return;
    }
    let runs: IRun[];
    try {
      runs = await this._api.runs([current.experiment_id], this._filter);
      this._runsError.replaceChildren();
    } catch (error) {
      this._runsError.replaceChildren(errorNotice(error));
      return;
    }
    this._shownRuns = runs;
    const keys = metricKeys(runs);
    if (!keys.includes(this._metric)) {
      this._metric = keys[0] ?? '';
    }
    this._metricSelect.replaceChildren(
      ...keys.map(k =>
        h('option', { value: k, selected: k === this._metric }, k)
      )
    );
    this._renderTable(runs, keys);
    await this._drawChart();
  }

  private _chartRuns(): IRun[] {
    const chosen = this._shownRuns.filter(r =>
      this._chartSelection.has(r.run_id)
    );
    return (chosen.length ? chosen : this._shownRuns).slice(0, MAX_CHART_RUNS);
  }

  private _renderTable(runs: IRun[], metricNames: string[]): void {
    const params = [...new Set(runs.flatMap(r => Object.keys(r.params)))]
      .sort()
      .slice(0, MAX_COLUMNS);
    const metrics = metricNames.slice(0, MAX_COLUMNS);
    const chartIds = new Set(this._chartRuns().map(r => r.run_id));
    const colorOf = new Map(
      this._chartRuns().map((r, i) => [
        r.run_id,
        RUN_COLORS[i % RUN_COLORS.length]
      ])
    );
    const head = h(
      'tr',
      {},
      h('th', { class: 'mlt-box' }),
      h('th', {}, 'Run'),
      h('th', {}, 'Status'),
      h('th', {}, 'Started'),
      h('th', {}, 'Duration'),
      params.map(p => h('th', { class: 'mlt-group-params' }, p)),
      metrics.map(m => h('th', { class: 'mlt-num mlt-group-metrics' }, m))
    );
    const rows = runs.map(r => {
      const box = h('input', {
        type: 'checkbox',
        title: 'Show in the chart',
        checked: this._chartSelection.has(r.run_id),
        onclick: (event: Event) => event.stopPropagation(),
        onchange: () => {
          if (box.checked) {
            this._chartSelection.add(r.run_id);
          } else {
            this._chartSelection.delete(r.run_id);
          }
          this._renderTable(this._shownRuns, metricKeys(this._shownRuns));
          void this._drawChart();
        }
      });
      const color = colorOf.get(r.run_id);
      return h(
        'tr',
        {
          class: `mlt-clickable ${this._chartSelection.has(r.run_id) ? 'mlt-selected' : ''}`,
          'data-run-id': r.run_id,
          title: 'Open the run',
          onclick: () => void this.showRun(r.run_id)
        },
        h('td', { class: 'mlt-box' }, box),
        h(
          'td',
          { class: 'mlt-name' },
          chartIds.has(r.run_id) && color
            ? h('span', { class: 'mlt-swatch', style: { background: color } })
            : null,
          r.name
        ),
        h('td', {}, badge(r.status)),
        h('td', { class: 'mlt-nowrap' }, formatTime(r.start_time)),
        h('td', { class: 'mlt-num' }, runDuration(r.start_time, r.end_time)),
        params.map(p => h('td', {}, r.params[p] ?? '')),
        metrics.map(m =>
          h('td', { class: 'mlt-num' }, formatNumber(r.metrics[m]))
        )
      );
    });
    this._table.replaceChildren(
      h(
        'div',
        { class: 'mlt-grid-scroll' },
        h(
          'table',
          { class: 'mlt-grid-table mltrack-runs-table' },
          h('thead', {}, head),
          h('tbody', {}, rows)
        )
      ),
      h(
        'div',
        { class: 'mlt-grid-footer' },
        h('span', { class: 'mlt-muted' }, `${runs.length} runs`),
        h(
          'span',
          { class: 'mlt-grid-selection' },
          this._chartSelection.size
            ? `${this._chartSelection.size} selected for the chart`
            : `the chart shows the newest ${Math.min(runs.length, MAX_CHART_RUNS)}`
        )
      )
    );
  }

  private async _drawChart(): Promise<void> {
    const runs = this._chartRuns();
    if (!this._metric || !runs.length) {
      this._chart?.finalize();
      this._chart = null;
      this._chartKey = '';
      this._chartBox.replaceChildren(
        notice('No metrics to chart yet: log one with mltrack.log_metric().')
      );
      return;
    }
    const history = await this._api.metricHistory(
      runs.map(r => r.run_id),
      this._metric
    );
    const key = JSON.stringify([
      this._metric,
      runs.map(r => r.run_id),
      history,
      themeConfig() // the theme's colors: a chart drawn mid-switch is drawn again
    ]);
    if (key === this._chartKey) {
      return;
    }
    this._chartKey = key;
    const series = runs.map(r => ({
      run: r.name,
      runId: r.run_id,
      points: history[r.run_id] ?? []
    }));
    const target = h('div', { class: 'mltrack-vega' });
    this._chartBox.replaceChildren(target);
    this._chart?.finalize();
    const width = Math.min(900, (this.node.clientWidth || 800) - 200);
    this._chart = await lineChart(target, this._metric, series, width);
  }

  // -- one run -------------------------------------------------------------------------

  private async _refreshRun(): Promise<void> {
    const pane = this._panes.run;
    if (!this._runId) {
      pane.replaceChildren(
        notice('Choose a run in the runs table or the sidebar.')
      );
      return;
    }
    const run = await this._api.run(this._runId);
    const artifacts = this._artifactPath
      ? await this._api.artifacts(run.run_id, this._artifactPath)
      : run.artifacts;
    pane.replaceChildren(...this._runDetail(run, artifacts));
  }

  private _runDetail(
    run: IRunDetail,
    artifacts: IRunDetail['artifacts']
  ): HTMLElement[] {
    const kv = (rows: [string, Node | string][]) =>
      h(
        'table',
        { class: 'mlt-kv' },
        rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))
      );
    const tags = Object.entries(run.tags ?? {});
    const up = this._artifactPath.includes('/')
      ? this._artifactPath.slice(0, this._artifactPath.lastIndexOf('/'))
      : '';
    return [
      h(
        'div',
        { class: 'mlt-header' },
        h('span', { class: 'mlt-title mltrack-run-title' }, run.name),
        badge(run.status),
        h('span', { class: 'mlt-sub mlt-mono' }, run.run_id)
      ),
      h(
        'div',
        { class: 'mltrack-columns' },
        h(
          'div',
          {},
          h('div', { class: 'mlt-section' }, 'Run'),
          kv([
            ['Experiment', run.experiment.name],
            ['Started', formatTime(run.start_time)],
            ['Duration', runDuration(run.start_time, run.end_time)],
            ['User', run.user],
            [
              'Artifacts',
              h('span', { class: 'mlt-mono' }, run.artifact_uri ?? '')
            ]
          ]),
          h('div', { class: 'mlt-section' }, 'Params'),
          Object.keys(run.params).length
            ? kv(Object.entries(run.params).map(([k, v]) => [k, v]))
            : h('div', { class: 'mlt-muted' }, 'none')
        ),
        h(
          'div',
          {},
          h('div', { class: 'mlt-section' }, 'Metrics'),
          Object.keys(run.metrics).length
            ? h(
                'table',
                { class: 'mlt-kv' },
                Object.entries(run.metrics).map(([k, v]) =>
                  h(
                    'tr',
                    {},
                    h('th', {}, k),
                    h('td', { class: 'mlt-num' }, formatNumber(v))
                  )
                )
              )
            : h('div', { class: 'mlt-muted' }, 'none'),
          h(
            'div',
            { class: 'mlt-section' },
            'Artifacts',
            this._artifactPath ? ` / ${this._artifactPath}` : ''
          ),
          h(
            'table',
            { class: 'mlt-tbl mltrack-artifacts' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'Path'),
                h('th', { class: 'mlt-num' }, 'Size')
              )
            ),
            h(
              'tbody',
              {},
              this._artifactPath
                ? h(
                    'tr',
                    {},
                    h(
                      'td',
                      {},
                      h(
                        'button',
                        {
                          class: 'mlt-link',
                          onclick: () => {
                            this._artifactPath = up;
                            void this.refresh();
                          }
                        },
                        '..'
                      )
                    ),
                    h('td')
                  )
                : null,
              artifacts.map(a =>
                h(
                  'tr',
                  {},
                  h(
                    'td',
                    { class: 'mlt-mono' },
                    a.is_dir
                      ? h(
                          'button',
                          {
                            class: 'mlt-link',
                            onclick: () => {
                              this._artifactPath = a.path;
                              void this.refresh();
                            }
                          },
                          `${a.path}/`
                        )
                      : a.path
                  ),
                  h('td', { class: 'mlt-num' }, formatSize(a.file_size))
                )
              )
            )
          ),
          artifacts.length
            ? null
            : h('div', { class: 'mlt-muted' }, 'No artifacts.')
        )
      ),
      h(
        'details',
        { class: 'mlt-details' },
        h('summary', {}, `Tags (${tags.length})`),
        kv(tags.map(([k, v]) => [k, v]))
      )
    ];
  }

  // -- registry ------------------------------------------------------------------------

  private async _refreshRegistry(): Promise<void> {
    const pane = this._panes.registry;
    const models = await this._api.models();
    if (!models.length) {
      pane.replaceChildren(
        h(
          'div',
          { class: 'mlt-header' },
          h('span', { class: 'mlt-title' }, 'Model registry')
        ),
        notice(
          "No registered models yet. Register one with mltrack.register_model('runs:/<run_id>/model', '<name>') or mltrack.register_best(...)."
        )
      );
      return;
    }
    if (!models.some(m => m.name === this._modelName)) {
      this._modelName = models[0].name;
    }
    const model = await this._api.model(this._modelName);
    const numbers = model.versions.map(v => v.version);
    if (this._version === null || !numbers.includes(this._version)) {
      this._version = numbers.length ? numbers[0] : null;
    }
    pane.replaceChildren(
      ...this._registryView(
        models.map(m => m.name),
        model
      ).filter((x): x is HTMLElement => x !== null)
    );
  }

  private _registryView(
    names: string[],
    model: IModelDetail
  ): (HTMLElement | null)[] {
    const policy = model.policy;
    const needs = (stage: string) =>
      policy !== null && policy.require_approval_for.includes(stage);
    const rules: string[] = [];
    if (policy?.require_approval_for.length) {
      rules.push(`approval for ${policy.require_approval_for.join(', ')}`);
    }
    if (policy && Object.keys(policy.gates).length) {
      rules.push(
        `gates ${Object.entries(policy.gates)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`
      );
    }
    const metricKeysOf = [
      ...new Set(
        model.versions.flatMap(v =>
          Object.keys(v.metrics ?? {}).filter(k => !k.startsWith('mltrack.'))
        )
      )
    ].slice(0, 3);
    const versionSelect = h(
      'select',
      {
        class: 'jp-mod-styled mlt-reg-version',
        onchange: () => {
          // Only the highlight changes: what the user typed stays.
          this._version = Number(versionSelect.value);
          for (const row of versionsTable.querySelectorAll('tbody tr')) {
            row.classList.toggle(
              'mlt-reg-selected',
              row.getAttribute('data-version') === String(this._version)
            );
          }
        }
      },
      model.versions.map(v =>
        h(
          'option',
          { value: v.version, selected: v.version === this._version },
          `v${v.version} · ${v.stage}`
        )
      )
    );
    const comment = h('textarea', {
      class: 'jp-mod-styled mlt-reg-comment',
      placeholder: 'Comment (recorded in the history)',
      rows: 2
    });
    const archiveExisting = h('input', { type: 'checkbox', checked: true });
    const alias = h('input', {
      class: 'jp-mod-styled',
      placeholder: 'alias, e.g. champion'
    });
    const requestSelect = h(
      'select',
      { class: 'jp-mod-styled' },
      model.pending.map(q =>
        h(
          'option',
          { value: q.request_id },
          `#${q.request_id}: v${q.version} → ${q.target_label} (${q.requested_by})`
        )
      )
    );
    const confirmBox = h('div', {
      class: 'mlt-reg-confirm',
      style: { display: 'none' }
    });
    const message = h('div', { class: 'mlt-reg-message' });
    const hasVersions = model.versions.length > 0;
    const holds = model.versions.some(v => v.stage === 'Production');

    const ask = async (action: string) => {
      message.replaceChildren();
      const body = {
        version: this._version,
        comment: comment.value,
        archive_existing: archiveExisting.checked,
        alias: alias.value,
        request_id: requestSelect.value ? Number(requestSelect.value) : null
      };
      try {
        const { question } = await this._api.action(model.name, action, body);
        confirmBox.replaceChildren(
          h('span', { class: 'mlt-reg-question' }, question ?? ''),
          h(
            'button',
            {
              class:
                'jp-Button jp-mod-styled jp-mod-accept mlt-reg-confirm-button',
              onclick: async () => {
                confirmBox.style.display = 'none';
                try {
                  const done = await this._api.action(model.name, action, {
                    ...body,
                    confirm: true
                  });
                  await this.refresh();
                  this._storeChanged();
                  this._say(done.message ?? 'Done.', false);
                } catch (error) {
                  await this.refresh();
                  this._say(error, true);
                }
              }
            },
            'Confirm'
          ),
          h(
            'button',
            {
              class:
                'jp-Button jp-mod-styled jp-mod-reject mlt-reg-cancel-button',
              onclick: () => {
                confirmBox.style.display = 'none';
              }
            },
            'Cancel'
          )
        );
        confirmBox.style.display = 'flex';
      } catch (error) {
        message.replaceChildren(errorNotice(error));
      }
    };
    const button = (
      action: string,
      label: string,
      kind: string,
      disabled: boolean,
      title = ''
    ) =>
      h(
        'button',
        {
          class: `jp-Button jp-mod-styled mlt-reg-button mlt-reg-${action} ${kind}`,
          disabled,
          title,
          onclick: () => void ask(action)
        },
        label
      );
    const staging = needs('Staging') ? 'Request Staging' : 'Promote to Staging';
    const production = needs('Production')
      ? 'Request Production'
      : 'Promote to Production';

    const versionsTable = h(
      'table',
      { class: 'mlt-tbl mltrack-versions' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Version'),
          h('th', {}, 'Stage'),
          h('th', {}, 'Source run'),
          metricKeysOf.map(k => h('th', { class: 'mlt-num' }, `metrics.${k}`)),
          h('th', {}, 'Registered')
        )
      ),
      h(
        'tbody',
        {},
        model.versions.map(v =>
          h(
            'tr',
            {
              class: v.version === this._version ? 'mlt-reg-selected' : '',
              'data-version': v.version
            },
            h(
              'td',
              {},
              h('b', {}, `v${v.version}`),
              ' ',
              v.aliases.map(a => h('span', { class: 'mlt-chip' }, `@${a}`))
            ),
            h('td', {}, badge(v.stage)),
            h(
              'td',
              { class: 'mlt-mono', title: v.source },
              v.run_id ? v.run_id.slice(0, 8) : 'folder'
            ),
            metricKeysOf.map(k =>
              h('td', { class: 'mlt-num' }, formatNumber((v.metrics ?? {})[k]))
            ),
            h(
              'td',
              {},
              formatTime(v.creation_time),
              ' ',
              h('span', { class: 'mlt-muted' }, `by ${v.user}`)
            )
          )
        )
      )
    );
    const history = h(
      'table',
      { class: 'mlt-tbl mltrack-history' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['When', 'Version', 'What', 'Change', 'By', 'Comment'].map(t =>
            h('th', {}, t)
          )
        )
      ),
      h(
        'tbody',
        {},
        model.history
          .slice(0, 40)
          .map(x =>
            h(
              'tr',
              {},
              h('td', { class: 'mlt-nowrap' }, formatTime(x.timestamp)),
              h('td', {}, x.version === null ? '' : `v${x.version}`),
              h(
                'td',
                {},
                `${x.kind} ${x.action}${x.request_id ? ` #${x.request_id}` : ''}`
              ),
              h('td', {}, changeText(x)),
              h('td', {}, x.user),
              h('td', {}, x.comment ?? '')
            )
          )
      )
    );
    this._message = message;
    return [
      h(
        'div',
        { class: 'mlt-header' },
        h('span', { class: 'mlt-title' }, `Model registry · ${model.name}`),
        model.description
          ? h('span', { class: 'mlt-sub' }, model.description)
          : null,
        policy
          ? h(
              'span',
              { class: 'mlt-chip', title: 'registry policy' },
              `policy: ${rules.join('; ') || 'none'}`
            )
          : null
      ),
      h(
        'div',
        { class: 'mltrack-toolbar' },
        h(
          'label',
          {},
          'Model ',
          h(
            'select',
            {
              class: 'jp-mod-styled mltrack-model-select',
              onchange: (event: Event) => {
                this._modelName = (event.target as HTMLSelectElement).value;
                this._version = null;
                void this.refresh();
              }
            },
            names.map(n =>
              h('option', { value: n, selected: n === model.name }, n)
            )
          )
        )
      ),
      h('div', { class: 'mlt-section' }, 'Versions'),
      h('div', { class: 'mlt-scroll' }, versionsTable),
      h(
        'div',
        { class: 'mlt-reg-actions' },
        h('label', {}, 'Version ', versionSelect),
        alias,
        button('alias', 'Set alias', '', !hasVersions)
      ),
      comment,
      h(
        'div',
        { class: 'mlt-reg-actions' },
        button(
          'staging',
          staging,
          'mlt-warn',
          !hasVersions,
          needs('Staging')
            ? 'Opens a request that another user approves'
            : 'Moves the chosen version to Staging'
        ),
        button(
          'production',
          production,
          'jp-mod-accept',
          !hasVersions,
          needs('Production')
            ? 'Opens a request that another user approves'
            : 'Moves the chosen version to Production'
        ),
        button('archive', 'Archive', '', !hasVersions),
        button('rollback', 'Rollback Production', 'jp-mod-warn', !holds),
        h(
          'label',
          { class: 'mlt-reg-archive' },
          archiveExisting,
          ' Archive the current holder'
        )
      ),
      confirmBox,
      message,
      model.pending.length
        ? h(
            'div',
            { class: 'mltrack-requests' },
            h('div', { class: 'mlt-section' }, 'Pending approval'),
            h(
              'div',
              { class: 'mlt-reg-actions' },
              requestSelect,
              button('approve', 'Approve', 'jp-mod-accept', false),
              button('reject', 'Reject', 'jp-mod-warn', false)
            )
          )
        : null,
      h('div', { class: 'mlt-section' }, 'History'),
      h('div', { class: 'mlt-scroll' }, history)
    ];
  }

  private _say(what: unknown, error: boolean): void {
    if (!this._message) {
      return;
    }
    this._message.replaceChildren(
      error
        ? errorNotice(what)
        : h('div', { class: 'mlt-notice mlt-ok' }, String(what))
    );
  }

  private _view: View = 'runs';
  private _tabs: HTMLElement;
  private _panes: Record<View, HTMLElement>;
  private _experimentId = '';
  private _filter = '';
  private _metric = '';
  private _shownRuns: IRun[] = [];
  private _chartSelection = new Set<string>();
  private _chart: Result | null = null;
  private _chartKey = '';
  private _experimentSelect!: HTMLSelectElement;
  private _filterInput!: HTMLInputElement;
  private _metricSelect!: HTMLSelectElement;
  private _runsError!: HTMLElement;
  private _chartBox!: HTMLElement;
  private _table!: HTMLElement;
  private _runId = '';
  private _artifactPath = '';
  private _modelName = '';
  private _version: number | null = null;
  private _message: HTMLElement | null = null;
}

/** Metric keys of runs, the user's own first (mltrack.* system metrics last). */
function metricKeys(runs: IRun[]): string[] {
  const keys = [...new Set(runs.flatMap(r => Object.keys(r.metrics)))].sort();
  return [
    ...keys.filter(k => !k.startsWith('mltrack.')),
    ...keys.filter(k => k.startsWith('mltrack.'))
  ];
}

function changeText(x: {
  kind: string;
  action: string;
  from: string | null;
  to: string | null;
  alias: string | null;
}): string {
  const v = (value: string | null) => (value === null ? 'none' : `v${value}`);
  if (x.kind === 'alias') {
    return `@${x.alias}: ${v(x.from)} → ${v(x.to)}`;
  }
  if (x.kind === 'policy') {
    return `policy ${x.action === 'delete' ? 'removed' : 'set'}`;
  }
  if (x.kind === 'request') {
    return `${x.action} ${x.to ?? ''}`;
  }
  if (x.action === 'register') {
    return 'registered';
  }
  return `${x.from} → ${x.to}`;
}
