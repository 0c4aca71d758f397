"""The ``bankfeeds`` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
import uvicorn
from pydantic import SecretStr
from rich.console import Console

from bankfeeds.core.config import Settings, load_settings
from bankfeeds.core.errors import BankfeedsError, ConfigError
from bankfeeds.core.logs import configure_logging
from bankfeeds.storage.db import migrate

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
secrets_app = typer.Typer(no_args_is_help=True, help="Encryption keys for stored secrets.")
user_app = typer.Typer(no_args_is_help=True, help="Web UI logins.")
sandbox_app = typer.Typer(help="The embedded bank SFTP server and its sample files.")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(secrets_app, name="secrets")
app.add_typer(user_app, name="user")
app.add_typer(sandbox_app, name="sandbox")
err = Console(stderr=True, soft_wrap=True, highlight=False)
T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


def _run(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro())


async def _with_ctx(settings: Settings, fn: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    from bankfeeds.storage.context import AppContext

    ctx = AppContext.build(settings)
    try:
        return await fn(ctx)
    finally:
        await ctx.close()


def serve_app(settings: Settings, host: str, port: int, *, schedule: bool = True) -> None:
    """Migrate, then serve the API (and an embedded worker) on ``host:port`` until interrupted."""
    from bankfeeds.http.app import create_app
    from bankfeeds.storage.context import AppContext

    ctx = AppContext.build(settings)  # refuses to start without a secret key
    migrate.upgrade(settings.resolved_database_url)
    app_ = create_app(ctx, schedule=schedule and settings.scheduler_enabled)
    configure_logging(settings.log_level, settings.log_format == "json")
    uvicorn.Server(server_config(app_, settings, host, port)).run()


def server_config(app_: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How ``serve`` runs uvicorn: forwarded headers only from BANKFEEDS_TRUSTED_PROXIES."""
    # uvicorn's own default believes X-Forwarded-For from 127.0.0.1; with no trusted proxy set,
    # no peer may choose the client address (login back-off) or scheme (Secure cookies).
    trusted = list(settings.trusted_proxies)
    return uvicorn.Config(
        app_,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Execute runs but schedule none.")
    ] = False,
) -> None:
    """Run the API, UI and a worker (applies migrations first)."""
    serve_app(_settings(), host, port, schedule=not no_scheduler)


@app.command()
def worker(
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Execute runs but schedule none.")
    ] = False,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds to let runs finish on SIGTERM.")
    ] = 30.0,
) -> None:
    """Run the scheduler and executor without the API (run several against PostgreSQL)."""
    from bankfeeds.pipeline.worker import run_until_signalled
    from bankfeeds.storage.context import AppContext

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format == "json")
    ctx = AppContext.build(settings)
    migrate.upgrade(settings.resolved_database_url)

    async def main() -> None:
        try:
            await run_until_signalled(
                ctx, schedule=settings.scheduler_enabled and not no_scheduler, grace_seconds=grace
            )
        finally:
            await ctx.close()

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = _settings()
    migrate.upgrade(settings.resolved_database_url, revision)
    typer.echo(f"database at {migrate.current(settings.resolved_database_url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' removes everything)."""
    settings = _settings()
    migrate.downgrade(settings.resolved_database_url, revision)
    typer.echo(f"database at {migrate.current(settings.resolved_database_url) or 'base'}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="A name for the token's holder (the audit actor).")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
) -> None:
    """Create an API token and print it alone on the last line."""
    from bankfeeds.access import tokens

    settings = _settings()
    migrate.upgrade(settings.resolved_database_url)
    token_id, token = _run(
        lambda: _with_ctx(
            settings, lambda ctx: tokens.create_token(ctx=ctx, name=name, role=role, actor="cli")
        )
    )
    err.print(f"created {token_id} {name!r} with role {role}; it is shown only once:")
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the tokens themselves)."""
    from bankfeeds.access import tokens

    rows = _run(lambda: _with_ctx(_settings(), lambda ctx: tokens.list_tokens(ctx=ctx)))
    for r in rows:
        state = "revoked" if r["revoked"] else "active"
        typer.echo(f"{r['id']}\t{r['name']}\t{r['role']}\t{r['prefix']}…\t{state}")


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke the token called NAME."""
    from bankfeeds.access import tokens

    _run(
        lambda: _with_ctx(
            _settings(), lambda ctx: tokens.revoke_token(ctx=ctx, name=name, actor="cli")
        )
    )
    typer.echo(f"revoked {name}")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Option(help="The user name to log in with.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a web UI user; the password is prompted for or read from stdin, never an argument."""
    from bankfeeds.access import users

    password = _password(password_stdin)
    settings = _settings()
    migrate.upgrade(settings.resolved_database_url)
    user_id = _run(
        lambda: _with_ctx(
            settings,
            lambda ctx: users.create_user(
                ctx=ctx, name=name, role=role, password=password, actor="cli"
            ),
        )
    )
    typer.echo(f"created {user_id} {name!r} with role {role}")


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _user_call(fn: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    settings = _settings()
    migrate.upgrade(settings.resolved_database_url)
    return _run(lambda: _with_ctx(settings, fn))


@user_app.command("list")
def user_list() -> None:
    """List users: name, role, enabled or disabled, live sessions."""
    from bankfeeds.access import users

    for r in _user_call(lambda ctx: users.list_users(ctx=ctx)):
        state = "disabled" if r["disabled"] else "enabled"
        typer.echo(
            f"{r['id']}\t{r['name']}\t{r['role']}\t{state}\t{r['activeSessions']} session(s)"
        )


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument()]) -> None:
    """Disable user NAME: no more logins, and every session of theirs ends now."""
    from bankfeeds.access import users

    done = _user_call(lambda ctx: users.disable_user(ctx=ctx, name=name, actor="cli"))
    typer.echo(f"disabled {name}; ended {done['sessionsEnded']} session(s)")


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument()]) -> None:
    """Let user NAME log in again."""
    from bankfeeds.access import users

    _user_call(lambda ctx: users.enable_user(ctx=ctx, name=name, actor="cli"))
    typer.echo(f"enabled {name}")


@user_app.command("set-password")
def user_set_password(
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set user NAME's password (prompted twice, or read from stdin); their sessions end."""
    from bankfeeds.access import users

    password = _password(password_stdin)
    done = _user_call(
        lambda ctx: users.set_password(ctx=ctx, name=name, password=password, actor="cli")
    )
    typer.echo(f"password of {name} changed; ended {done['sessionsEnded']} session(s)")


@user_app.command("end-sessions")
def user_end_sessions(
    name: Annotated[str | None, typer.Argument(help="The user (omit with --all).")] = None,
    every: Annotated[bool, typer.Option("--all", help="End every session of everyone.")] = False,
) -> None:
    """End the web sessions of user NAME, or with --all of every user and token."""
    from bankfeeds.access import users

    if (name is None) == (not every):
        raise ConfigError("Name one user, or pass --all (not both).")
    if name is None:
        ended = _user_call(lambda ctx: users.end_all_sessions(ctx=ctx, actor="cli"))
    else:
        done = _user_call(lambda ctx: users.end_sessions(ctx=ctx, name=name, actor="cli"))
        ended = done["sessionsEnded"]
    typer.echo(f"ended {ended} session(s)")


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for BANKFEEDS_SECRET_KEY."""
    from bankfeeds.storage.secrets import generate_key

    typer.echo(generate_key())


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt stored secrets with the first key in BANKFEEDS_SECRET_KEY."""
    from bankfeeds.access.key_rotation import rotate_secrets

    count = _run(lambda: _with_ctx(_settings(), lambda ctx: rotate_secrets(ctx=ctx)))
    typer.echo(f"re-encrypted the secrets of {count} connector(s)")


def _sandbox_root(settings: Settings, root: Path | None) -> Path:
    return root or settings.data_dir / "sftp"


@sandbox_app.callback(invoke_without_command=True)
def sandbox(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address (default SFTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (SFTP_PORT).")] = None,
    root: Annotated[
        Path | None, typer.Option(help="Served directory (default ./var/sftp).")
    ] = None,
) -> None:
    """Serve the sandbox bank SFTP server until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    from bankfeeds.sandbox.server import run_sandbox_forever

    settings = _settings()
    users = {settings.sftp_user: settings.sftp_pass.get_secret_value()}
    try:
        asyncio.run(
            run_sandbox_forever(
                root=_sandbox_root(settings, root),
                host=host or settings.sftp_host,
                port=settings.sftp_port if port is None else port,
                users=users,
                announce=typer.echo,
            )
        )
    except OSError as exc:
        raise ConfigError(f"The sandbox could not listen: {exc.strerror or exc}.") from exc


@sandbox_app.command("seed")
def sandbox_seed(
    root: Annotated[
        Path | None, typer.Option(help="Served directory (default ./var/sftp).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=31, help="How many past days (default: as many as the demo)."),
    ] = None,
) -> None:
    """Write sample bank and PG files with sidecars for the last few days."""
    from bankfeeds.sandbox.demo import seed_missing_days
    from bankfeeds.sandbox.generate import SEED_DAYS

    settings = _settings()
    upload = _sandbox_root(settings, root) / "upload"
    upload.mkdir(parents=True, exist_ok=True)
    # "Today" in the connectors' default zone, as the demo seeds, not the machine's zone.
    today = datetime.now(ZoneInfo(settings.scheduler_timezone)).date()
    made = seed_missing_days(upload, today, SEED_DAYS if days is None else days)
    typer.echo(
        f"seeded {len(made)} day(s) into {upload}: {', '.join(map(str, made)) or 'none new'}"
    )


@sandbox_app.command("generate")
def sandbox_generate(
    day: Annotated[str, typer.Option("--date", help="Cycle date, YYYY-MM-DD.")],
    root: Annotated[
        Path | None, typer.Option(help="Served directory (default ./var/sftp).")
    ] = None,
) -> None:
    """Drop one fresh day of sample files into the sandbox."""
    from bankfeeds.sandbox.generate import generate_day

    try:
        cycle = date.fromisoformat(day)
    except ValueError as exc:
        raise ConfigError(f"--date {day!r} is not a date like 2025-01-10.") from exc
    upload = _sandbox_root(_settings(), root) / "upload"
    upload.mkdir(parents=True, exist_ok=True)
    paths = generate_day(upload, cycle)
    typer.echo(f"wrote {len(paths)} file(s) for {cycle} into {upload}")


@app.command()
def demo(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="API and UI port (0 picks a free one).")
    ] = 3000,
    sandbox_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Sandbox SFTP port (SFTP_PORT).")
    ] = None,
    bank_api_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the sandbox bank API.")
    ] = 2280,
    wait: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds to wait for every seeded day's recon (default 300)."),
    ] = None,
) -> None:
    """Start the sandbox and the server, fetch and reconcile the seeded days, print a token."""
    import logging

    from bankfeeds.access.key_rotation import demo_secret_key
    from bankfeeds.sandbox.demo_run import DEFAULT_WAIT_SECONDS, run_demo

    settings = _settings()
    if not settings.secret_keys:
        settings = settings.model_copy(
            update={"secret_key": SecretStr(demo_secret_key(settings.data_dir))}
        )
    # Logs go to a file so that what the demo prints ends with the admin token, as the README
    # promises; the first line says where they are.
    log_path = settings.data_dir / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        configure_logging(settings.log_level, json=False, stream=log)
        logging.captureWarnings(True)  # a library's warning is a log line too, not terminal noise
        typer.echo(f"bankfeeds demo: logs go to {log_path}")
        migrate.upgrade(settings.resolved_database_url)
        try:
            asyncio.run(
                run_demo(
                    settings,
                    port=port,
                    sandbox_port=settings.sftp_port if sandbox_port is None else sandbox_port,
                    bank_api_port=bank_api_port,
                    log_path=log_path,
                    say=typer.echo,
                    wait_seconds=DEFAULT_WAIT_SECONDS if wait is None else wait,
                )
            )
        except OSError as exc:
            raise ConfigError(f"The demo could not start: {exc.strerror or exc}.") from exc


def main() -> None:
    """Entry point: run the command, turning our errors into one sentence and an exit code."""
    # Everything bankfeeds writes (database, objects, staging, logs) is for its own user only.
    os.umask(0o077)
    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    except BankfeedsError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
