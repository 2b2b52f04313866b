"""The configuration every command reads, set once by the root command."""

from __future__ import annotations

from typing import Any

import typer

from supplychain_cli.api import Api
from supplychain_cli.config import Config
from supplychain_cli.output import emit_json


def config_of(ctx: typer.Context) -> Config:
    root = ctx.find_root()
    if not isinstance(root.obj, Config):
        root.obj = Config.from_environment()
    return root.obj


def api_of(ctx: typer.Context, *, as_json: bool) -> Api:
    return Api(config_of(ctx), as_json=as_json)


def read(ctx: typer.Context, service: str, path: str, *, as_json: bool, **params: Any) -> Any:
    """GET one of a service's resources. With `--json` it is printed as it came and the command
    ends here; otherwise the caller shows it."""
    with api_of(ctx, as_json=as_json) as api:
        body = api.get(service, path, **params)
    if as_json:
        emit_json(body)
        raise typer.Exit()
    return body
