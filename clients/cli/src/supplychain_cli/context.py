"""The configuration every command reads, set once by the root command."""

from __future__ import annotations

import typer

from supplychain_cli.api import Api
from supplychain_cli.config import Config


def config_of(ctx: typer.Context) -> Config:
    root = ctx.find_root()
    if not isinstance(root.obj, Config):
        root.obj = Config.from_environment()
    return root.obj


def api_of(ctx: typer.Context, *, as_json: bool) -> Api:
    return Api(config_of(ctx), as_json=as_json)
