"""``mltrack server``: the team server, and its user and permission commands."""

from __future__ import annotations

import sys
from typing import Any

import click

from . import emit, main


def _config(ctx: click.Context) -> Any:
    from ..server.state import ServerConfig

    options = ctx.obj["server"]
    if not options["backend_store_uri"]:
        raise click.UsageError("Pass --backend-store-uri (or MLTRACK_SERVER_BACKEND_STORE_URI).")
    return ServerConfig(
        backend_store_uri=options["backend_store_uri"],
        artifacts_destination=options["artifacts_destination"] or "./mltrack-artifacts",
        auth_db_uri=options["auth_db_uri"], host=options["host"], port=options["port"],
        auth=options["auth"], allowed_hosts=_split(options["allowed_hosts"]),
        cors_origins=_split(options["cors_allowed_origins"]),
        max_body_bytes=options["max_body_size"], max_upload_bytes=options["max_upload_size"],
        default_permission=options["default_permission"].upper())


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _server_store(ctx: click.Context) -> Any:
    from ..server.state import ServerState

    return ServerState(_config(ctx)).server_store


@main.group("server", invoke_without_command=True)
@click.option("--backend-store-uri", envvar="MLTRACK_SERVER_BACKEND_STORE_URI",
              help="Tracking database: postgresql://... or sqlite:///path.")
@click.option("--artifacts-destination", envvar="MLTRACK_SERVER_ARTIFACTS_DESTINATION",
              help="Where artifacts go: s3://bucket/prefix or a folder.")
@click.option("--auth-db-uri", envvar="MLTRACK_SERVER_AUTH_DB_URI",
              help="Database of users, tokens, permissions (default: beside a SQLite store, "
                   "or the same PostgreSQL database).")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="MLTRACK_SERVER_HOST",
              help="Interface to listen on; anything but loopback requires auth.")
@click.option("--port", default=5000, show_default=True, type=int,
              envvar="MLTRACK_SERVER_PORT")
@click.option("--workers", default=1, show_default=True, type=int,
              envvar="MLTRACK_SERVER_WORKERS", help="Worker processes.")
@click.option("--auth/--no-auth", default=None,
              help="Require credentials (default: yes unless bound to loopback).")
@click.option("--allowed-hosts", envvar="MLTRACK_SERVER_ALLOWED_HOSTS",
              help="Comma-separated Host header values accepted ('*': any).")
@click.option("--cors-allowed-origins", envvar="MLTRACK_SERVER_CORS_ALLOWED_ORIGINS",
              help="Comma-separated browser origins allowed to call the API.")
@click.option("--max-body-size", default=16 * 1024 * 1024, show_default=True, type=int,
              help="Largest JSON request body in bytes.")
@click.option("--max-upload-size", default=5 * 1024 ** 3, show_default=True, type=int,
              help="Largest artifact upload in bytes.")
@click.option("--default-permission", default="READ", show_default=True,
              type=click.Choice(["READ", "EDIT", "MANAGE", "NONE"], case_sensitive=False),
              envvar="MLTRACK_SERVER_DEFAULT_PERMISSION",
              help="Permission on experiments and models nobody granted.")
@click.option("--access-log", is_flag=True, help="Log one JSON line per request.")
@click.pass_context
def server(ctx: click.Context, backend_store_uri: str | None,
           artifacts_destination: str | None, auth_db_uri: str | None, host: str, port: int,
           workers: int, auth: bool | None, allowed_hosts: str | None,
           cors_allowed_origins: str | None, max_body_size: int, max_upload_size: int,
           default_permission: str, access_log: bool) -> None:
    """Run the team server: MLflow's REST API (MLFLOW_TRACKING_URI=http://host:port works)."""
    ctx.ensure_object(dict)
    ctx.obj["server"] = dict(backend_store_uri=backend_store_uri,
                             artifacts_destination=artifacts_destination,
                             auth_db_uri=auth_db_uri, host=host, port=port, auth=auth,
                             allowed_hosts=allowed_hosts,
                             cors_allowed_origins=cors_allowed_origins,
                             max_body_size=max_body_size, max_upload_size=max_upload_size,
                             default_permission=default_permission)
    if ctx.invoked_subcommand is not None:
        return
    config = _config(ctx)
    if auth is False and host not in ("127.0.0.1", "::1", "localhost"):
        raise click.UsageError("--no-auth is only allowed on a loopback address; a server "
                               "others can reach always requires credentials.")
    if not artifacts_destination:
        raise click.UsageError("Pass --artifacts-destination (s3://bucket/prefix or a folder).")
    from ..server.run import run

    run(config, workers=workers, access_log=access_log)


@server.command("migrate")
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the tracking schema and the server's tables, then exit (the
    Kubernetes migration Job runs this before the server's pods start)."""
    from ..server.run import prepare

    prepare(_config(ctx))
    click.echo("The tracking store and the server tables are ready.")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@server.command("create-user")
@click.argument("username")
@click.option("--admin", is_flag=True, help="May do anything, including managing users.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_context
def create_user(ctx: click.Context, username: str, admin: bool, password_stdin: bool) -> None:
    """Create a user (there is no default user or password)."""
    _server_store(ctx).create_user(username, _password(password_stdin), is_admin=admin)
    click.echo(f"Created {'admin' if admin else 'user'} {username}.")


@server.command("update-user")
@click.argument("username")
@click.option("--password", "change_password", is_flag=True, help="Set a new password.")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@click.option("--admin/--no-admin", default=None)
@click.pass_context
def update_user(ctx: click.Context, username: str, change_password: bool,
                password_stdin: bool, admin: bool | None) -> None:
    """Change a user's password or admin flag."""
    password = _password(password_stdin) if change_password or password_stdin else None
    _server_store(ctx).update_user(username, password, admin)
    click.echo(f"Updated {username}.")


@server.command("delete-user")
@click.argument("username")
@click.pass_context
def delete_user(ctx: click.Context, username: str) -> None:
    """Remove a user with their tokens and permissions."""
    _server_store(ctx).delete_user(username)
    click.echo(f"Deleted {username}.")


@server.command("list-users")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_users(ctx: click.Context, as_json: bool) -> None:
    """The users of the server."""
    rows = [{"username": u.username, "admin": u.is_admin}
            for u in _server_store(ctx).list_users()]
    emit(rows, ["username", "admin"], as_json)


@server.command("create-token")
@click.argument("username")
@click.option("--name", default="", help="What the token is for.")
@click.pass_context
def create_token(ctx: click.Context, username: str, name: str) -> None:
    """Print a new access token for the user (MLFLOW_TRACKING_TOKEN); shown once."""
    click.echo(_server_store(ctx).create_token(username, name))


@server.command("set-permission")
@click.option("--user", "username", required=True)
@click.option("--experiment-id", default=None)
@click.option("--registered-model", default=None)
@click.option("--permission", required=True,
              type=click.Choice(["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"],
                                case_sensitive=False))
@click.pass_context
def set_permission(ctx: click.Context, username: str, experiment_id: str | None,
                   registered_model: str | None, permission: str) -> None:
    """Grant a user READ, EDIT or MANAGE on one experiment or registered model."""
    if (experiment_id is None) == (registered_model is None):
        raise click.UsageError("Name one --experiment-id or one --registered-model.")
    store = _server_store(ctx)
    if store.get_user(username) is None:
        raise click.UsageError(f"No user named {username!r}; create it first.")
    kind, resource = (("experiment", experiment_id) if experiment_id is not None
                      else ("registered_model", registered_model))
    store.set_permission(kind, str(resource), username, permission.upper())
    click.echo(f"{username}: {permission.upper()} on {kind} {resource}.")
