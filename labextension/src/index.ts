/**
 * ML Tracker for JupyterLab and Notebook 7: a sidebar of experiments, runs and models,
 * a dashboard in the main area, "Track this cell", and the active run in the status bar.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  ICommandPalette,
  IThemeManager,
  MainAreaWidget,
  Dialog,
  showDialog,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { MLTrackApi } from './api';
import { MLTrackDashboard } from './dashboard';
import { errorNotice } from './dom';
import { MLTrackSidebar } from './sidebar';
import { ActiveRunStatus } from './status';
import { CommandIDs, PLUGIN_ID } from './tokens';
import { trackCellSource } from './track';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><path d="M3 3h2v16h16v2H3z"/>
<path d="M7 15.6l4.2-5.1 3.2 2.6 4.8-6.1 1.6 1.2-6.1 7.9-3.2-2.6-2.9 3.5z"/></g></svg>`;

export const mltrackIcon = new LabIcon({
  name: 'jupyter-mltrack:icon',
  svgstr: ICON_SVG
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'ML Tracker: runs, charts and the model registry of jupyter_mltrack.',
  autoStart: true,
  optional: [
    ISettingRegistry,
    ILayoutRestorer,
    ICommandPalette,
    INotebookTracker,
    IStatusBar,
    IThemeManager
  ],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    statusBar: IStatusBar | null,
    themes: IThemeManager | null
  ) => {
    const api = new MLTrackApi();
    let interval = 3;
    const { commands, shell } = app;

    const sidebar = new MLTrackSidebar(api, commands);
    sidebar.title.icon = mltrackIcon;
    shell.add(sidebar, 'left', { rank: 850 });
    restorer?.add(sidebar, 'mltrack-sidebar');

    const tracker = new WidgetTracker<MainAreaWidget<MLTrackDashboard>>({
      namespace: 'mltrack-dashboard'
    });
    let dashboard: MainAreaWidget<MLTrackDashboard> | null = null;
    const openDashboard = (): MLTrackDashboard => {
      if (!dashboard || dashboard.isDisposed) {
        const content = new MLTrackDashboard(api, () => void sidebar.refresh());
        dashboard = new MainAreaWidget({ content });
        dashboard.id = 'mltrack-dashboard-panel';
        dashboard.title.label = 'ML Tracker';
        dashboard.title.icon = mltrackIcon;
        void tracker.add(dashboard);
      }
      if (!dashboard.isAttached) {
        shell.add(dashboard, 'main');
      }
      shell.activateById(dashboard.id);
      return dashboard.content;
    };
    themes?.themeChanged.connect(() => {
      dashboard?.content.themeChanged();
    });

    commands.addCommand(CommandIDs.openDashboard, {
      label: 'ML Tracker: Open Dashboard',
      caption: 'Runs table, charts and the model registry',
      icon: mltrackIcon,
      execute: async args => {
        const view = openDashboard();
        const experiment = args.experiment as string | undefined;
        await view.showRuns(experiment);
      }
    });
    commands.addCommand(CommandIDs.openRun, {
      label: 'ML Tracker: Open Run',
      execute: async args => {
        await openDashboard().showRun(String(args.runId ?? ''));
      }
    });
    commands.addCommand(CommandIDs.compareRuns, {
      label: 'ML Tracker: Compare Selected Runs',
      execute: async args => {
        const ids = (args.runIds as string[]) ?? [];
        const first = sidebar.runs.get(ids[0]);
        await openDashboard().showRuns(first?.experiment_id, ids);
      }
    });
    commands.addCommand(CommandIDs.openModel, {
      label: 'ML Tracker: Open Model Registry',
      execute: async args => {
        await openDashboard().showModel(args.name as string | undefined);
      }
    });
    commands.addCommand(CommandIDs.copyRunId, {
      label: 'ML Tracker: Copy Run Id',
      execute: args => {
        Clipboard.copyToSystem(String(args.runId ?? ''));
      }
    });
    commands.addCommand(CommandIDs.insertRestore, {
      label: 'ML Tracker: Insert %mltrack restore Cell',
      isEnabled: () => !!notebooks?.currentWidget,
      execute: async args => {
        const panel = notebooks?.currentWidget;
        if (!panel) {
          await showDialog({
            title: 'No notebook',
            body: 'Open a notebook first: the restore cell goes below its active cell.',
            buttons: [Dialog.okButton()]
          });
          return;
        }
        NotebookActions.insertBelow(panel.content);
        panel.content.activeCell?.model.sharedModel.setSource(
          `%mltrack restore ${args.runId}`
        );
        shell.activateById(panel.id);
      }
    });
    commands.addCommand(CommandIDs.deleteRun, {
      label: 'ML Tracker: Delete Run',
      execute: async args => {
        const runId = String(args.runId ?? '');
        const run = sidebar.runs.get(runId);
        const result = await showDialog({
          title: 'Delete run?',
          body: `Delete run ${run?.name ?? ''} (${runId})? It can be restored with mltrack.restore_run().`,
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: 'Delete' })
          ]
        });
        if (!result.button.accept) {
          return;
        }
        try {
          await api.deleteRun(runId);
        } catch (error) {
          await showDialog({
            title: 'Could not delete the run',
            body: new ErrorBody(error),
            buttons: [Dialog.okButton()]
          });
        }
        await sidebar.refresh();
      }
    });
    commands.addCommand(CommandIDs.trackCell, {
      label: 'Track this cell',
      caption: 'Prefix the active cell with %%track: running it records a run',
      icon: mltrackIcon,
      isEnabled: () => !!notebooks?.activeCell,
      execute: () => {
        const cell = notebooks?.activeCell;
        if (!cell || cell.model.type !== 'code') {
          return;
        }
        const source = cell.model.sharedModel.getSource();
        cell.model.sharedModel.setSource(trackCellSource(source));
      }
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'ML Tracker: Refresh',
      execute: async () => {
        await sidebar.refresh();
        await dashboard?.content.refresh();
      }
    });
    for (const command of [
      CommandIDs.openDashboard,
      CommandIDs.openModel,
      CommandIDs.trackCell,
      CommandIDs.refresh
    ]) {
      palette?.addItem({ command, category: 'ML Tracker' });
    }

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel) => {
        const button = new ToolbarButton({
          className: 'mltrack-track-cell',
          icon: mltrackIcon,
          label: 'Track',
          tooltip: 'Track this cell: prefix it with %%track',
          onClick: () => {
            void commands.execute(CommandIDs.trackCell);
          }
        });
        panel.toolbar.insertAfter('cellType', 'mltrackTrackCell', button);
        return button;
      }
    });

    let status: ActiveRunStatus | null = null;
    if (statusBar && notebooks) {
      status = new ActiveRunStatus(api, notebooks);
      statusBar.registerStatusItem('jupyter-mltrack:active-run', {
        item: status,
        align: 'left',
        rank: 5,
        isActive: () => true
      });
    }

    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PLUGIN_ID);
        const apply = () => {
          api.trackingUri = String(settings.get('trackingUri').composite ?? '');
          interval = Number(settings.get('refreshInterval').composite ?? 3);
          void sidebar.refresh();
        };
        apply();
        settings.changed.connect(apply);
      } catch (error) {
        console.warn('jupyter-mltrack: settings not loaded', error);
      }
    }

    const tick = async () => {
      if (sidebar.isVisible) {
        await sidebar.refresh();
      }
      if (dashboard && dashboard.isVisible) {
        await dashboard.content.liveRefresh();
      }
      await status?.refresh();
      window.setTimeout(tick, Math.max(0.5, interval) * 1000);
    };

    void app.restored.then(async () => {
      void sidebar.refresh();
      window.setTimeout(tick, Math.max(0.5, interval) * 1000);
      try {
        const store = await api.store();
        if (store.open_dashboard) {
          await commands.execute(CommandIDs.openDashboard, {});
        }
      } catch (error) {
        console.warn(
          'jupyter-mltrack: the server extension did not answer',
          error
        );
      }
    });
  }
};

class ErrorBody extends Widget {
  constructor(error: unknown) {
    super({ node: errorNotice(error) });
  }
}

export default plugin;
