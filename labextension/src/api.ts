/**
 * The REST routes of the jupyter_mltrack server extension (jupyter_mltrack/server/lab).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IExperiment {
  experiment_id: string;
  name: string;
  lifecycle_stage: string;
  creation_time: number | null;
}

export interface IRun {
  run_id: string;
  name: string;
  status: string;
  experiment_id: string;
  start_time: number;
  end_time: number | null;
  user: string;
  parent_run_id: string | null;
  metrics: Record<string, number | null>;
  params: Record<string, string>;
  tags?: Record<string, string>;
  artifact_uri?: string;
}

export interface IFileInfo {
  path: string;
  is_dir: boolean;
  file_size: number | null;
}

export interface IRunDetail extends IRun {
  experiment: IExperiment;
  artifacts: IFileInfo[];
}

export interface IVersion {
  name: string;
  version: number;
  stage: string;
  aliases: string[];
  run_id: string | null;
  source: string;
  creation_time: number | null;
  user: string;
  description: string | null;
  metrics?: Record<string, number | null>;
}

export interface IModel {
  name: string;
  description: string | null;
  aliases: Record<string, number>;
  last_updated_time: number | null;
  versions: IVersion[];
}

export interface IRequest {
  request_id: number;
  version: number;
  target: string;
  target_label: string;
  kind: string;
  status: string;
  requested_by: string;
  requested_time: number;
  comment: string | null;
}

export interface ITransition {
  timestamp: number;
  version: number | null;
  kind: string;
  action: string;
  from: string | null;
  to: string | null;
  alias: string | null;
  user: string;
  comment: string | null;
  request_id: number | null;
}

export interface IModelDetail extends IModel {
  policy: {
    require_approval_for: string[];
    gates: Record<string, string>;
    allow_self_approval: boolean;
  } | null;
  pending: IRequest[];
  history: ITransition[];
}

export interface IStoreInfo {
  tracking_uri: string;
  label: string;
  open_dashboard: boolean;
}

/** An error answered by the server: its message (a bad filter's has a caret line). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: string = ''
  ) {
    super(message);
  }
}

/** Talks to /mltrack/api/ on the Jupyter server, on the store of the settings. */
export class MLTrackApi {
  /** The `trackingUri` setting ('' for the store found from the server root). */
  trackingUri = '';
  private _settings = ServerConnection.makeSettings();

  async get<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    return this._request<T>(path, { method: 'GET' }, params);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this._request<T>(path, {
      method: 'POST',
      body: JSON.stringify(body)
    });
  }

  async delete<T>(path: string): Promise<T> {
    return this._request<T>(path, { method: 'DELETE' });
  }

  store(): Promise<IStoreInfo> {
    return this.get<IStoreInfo>('store');
  }

  experiments(): Promise<IExperiment[]> {
    return this.get<IExperiment[]>('experiments');
  }

  runs(
    experimentIds: string[],
    filter: string,
    maxResults = 300
  ): Promise<IRun[]> {
    return this.get<IRun[]>('runs', {
      experiment_ids: experimentIds.join(','),
      filter,
      max_results: String(maxResults)
    });
  }

  run(runId: string): Promise<IRunDetail> {
    return this.get<IRunDetail>(`runs/${encodeURIComponent(runId)}`);
  }

  artifacts(runId: string, path: string): Promise<IFileInfo[]> {
    return this.get<IFileInfo[]>(
      `runs/${encodeURIComponent(runId)}/artifacts`,
      { path }
    );
  }

  deleteRun(runId: string): Promise<unknown> {
    return this.delete(`runs/${encodeURIComponent(runId)}`);
  }

  metricHistory(
    runIds: string[],
    key: string
  ): Promise<Record<string, [number, number | null, number][]>> {
    return this.get('metric-history', { run_ids: runIds.join(','), key });
  }

  activeRun(kernelId: string): Promise<{ run: IRun | null }> {
    return this.get('active-run', { kernel_id: kernelId });
  }

  models(): Promise<IModel[]> {
    return this.get<IModel[]>('models');
  }

  model(name: string): Promise<IModelDetail> {
    return this.get<IModelDetail>(`models/${encodeURIComponent(name)}`);
  }

  /** A registry action: without `confirm` the question to ask, with it the deed. */
  action(
    name: string,
    action: string,
    body: Record<string, unknown>
  ): Promise<{ question?: string; message?: string }> {
    return this.post(
      `models/${encodeURIComponent(name)}/actions/${action}`,
      body
    );
  }

  private async _request<T>(
    path: string,
    init: RequestInit,
    params: Record<string, string> = {}
  ): Promise<T> {
    const query = new URLSearchParams(params);
    if (this.trackingUri) {
      query.set('uri', this.trackingUri);
    }
    const url =
      URLExt.join(this._settings.baseUrl, 'mltrack/api', path) +
      (query.toString() ? `?${query.toString()}` : '');
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this._settings);
    } catch (error) {
      throw new ApiError(`The Jupyter server is unreachable: ${error}`, 0);
    }
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text };
    }
    if (!response.ok) {
      throw new ApiError(
        (data && data.message) || response.statusText,
        response.status,
        (data && data.error) || ''
      );
    }
    return data as T;
  }
}
