"""Opening and closing the database, and creating its schema."""

from __future__ import annotations

from pathlib import Path

from tortoise import Tortoise
from tortoise.context import TortoiseContext

MODELS = {"models": ["server.models"]}


async def open_database(db_url: str, *, create_schema: bool = True) -> TortoiseContext:
    """Connect and (by default) create missing tables. The context is also the global fallback so
    request handlers and the MQTT consumer, which run in other tasks, find the connection."""
    if db_url.startswith("sqlite://") and db_url != "sqlite://:memory:":
        Path(db_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    # The connection is named after its dialect: tortoise caches compiled INSERTs per connection name,
    # so a process that opens SQLite and then PostgreSQL (tests, the demo) must not share the name.
    dialect = db_url.split("://", 1)[0]
    config = {
        "connections": {dialect: db_url},
        "apps": {"models": {"models": MODELS["models"], "default_connection": dialect}},
    }
    context = await Tortoise.init(config=config, _enable_global_fallback=True)
    if create_schema:
        await Tortoise.generate_schemas(safe=True)
    return context


async def close_database(context: TortoiseContext) -> None:
    await context.close_connections()
