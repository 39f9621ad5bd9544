"""The central service: consumes punch batches from MQTT, stores them idempotently, keeps the registry
and serves the personnel bureau (JSON API, pages, exports). Built on aiohttp and tortoise-orm."""
