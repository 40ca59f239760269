"""Tags a project or notebook run carries, so that it can be reproduced."""

PROJECT_NAME = "mltrack.project.name"
PROJECT_DIR = "mltrack.project.dir"
ENTRY_POINT = "mltrack.project.entry_point"
ENV_MANAGER = "mltrack.project.env_manager"
ENV_LOCATION = "mltrack.project.env"
COMMAND = "mltrack.project.command"
#: JSON of the parameters the run was given (project: text values; notebook: literals).
PARAMETERS = "mltrack.project.parameters"
#: The notebook a notebook run executed (absolute path when it ran).
NOTEBOOK = "mltrack.project.notebook"
#: On a reproduction: the id of the run it reproduces.
REPRODUCES = "mltrack.reproduces"
#: "true" when the command got mltrack's MLflow-compatible ``import mlflow``.
MLFLOW_COMPAT = "mltrack.project.mlflow_compat"
