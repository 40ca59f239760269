/** Command ids of the ML Tracker. */
export const CommandIDs = {
  openDashboard: 'mltrack:open-dashboard',
  openRun: 'mltrack:open-run',
  compareRuns: 'mltrack:compare-runs',
  copyRunId: 'mltrack:copy-run-id',
  insertRestore: 'mltrack:insert-restore-cell',
  deleteRun: 'mltrack:delete-run',
  openModel: 'mltrack:open-model',
  trackCell: 'mltrack:track-cell',
  refresh: 'mltrack:refresh'
} as const;

/** The plugin id, which is also the settings id (schema/plugin.json). */
export const PLUGIN_ID = 'jupyter-mltrack:plugin';
