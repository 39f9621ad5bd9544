"""The wire: what a gateway and the central server say to each other, and nothing else of ours.

- `contract`: the MQTT topics, the messages with their schema version, their encoding and checks;
- `mqtt`: the MQTT transport (paho), its settings from a URL, TLS, reconnects;
- `zones`: office time zones (WIB, WITA, WIT), which turn a device's wall clock into an instant;
- `embedded`: the in-process broker of the embedded default (a laptop with nothing installed);
- `aio`: a small asyncio helper both sides' loops use.

Both `gateway/` and `server/` import this package; it imports neither (tests/test_layering.py).
`__version__` is the release version: a gateway reports it in its status and telemetry, the release
builder stamps it on the artefact, and pyproject.toml reads it from here.
"""

__version__ = "0.1.0"
