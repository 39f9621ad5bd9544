"""Server settings from the environment (and the command line), with the embedded default for a laptop."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from wire.mqtt import MqttSettings

DEFAULT_DB_URL = "sqlite://var/kinerja.sqlite3"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883?protocol=5"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`db_url`: sqlite://path/to/file.sqlite3 or postgres://user@host:5432/db.
    `mqtt`: the broker; MQTT 5 uses a shared subscription so replicas split the punch stream,
    3.1.1 (the embedded broker) a plain one. `replica_id` names this replica's MQTT session: its client
    id, which the deployment's broker binds to the login (use_username_as_clientid, or the dynsec
    client's bound id). So each replica has a login of its own and, unless KINERJA_REPLICA_ID says
    otherwise, the login is its replica id; two replicas on one login would take each other over."""

    db_url: str = DEFAULT_DB_URL
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    replica_id: str = "kinerja-server-" + socket.gethostname().lower()
    share_group: str = "kinerja-server"
    # How many unacked punch batches the broker may have in flight to this replica: the ingest writer
    # groups what is in flight into one transaction, so this bounds both memory and group size.
    receive_maximum: int = 200
    # Apply pending migrations at start (replicas serialise on a lock); off when operators run
    # `kinerja server migrate` themselves.
    migrate_on_start: bool = True
    # Largest HTTP request body: a CSV of a whole directorate general's employees fits.
    max_request_bytes: int = 16 * 1024**2
    # Consume only these units' topics (empty: every unit). A broker shared by several ministries'
    # servers, or by tests running side by side, is split this way.
    units: tuple[str, ...] = ()
    # How long the broker keeps this replica's session (subscriptions and queued batches) while it is
    # away. Long for a production replica that restarts; short for throwaway ones (tests, benchmarks),
    # whose abandoned sessions would otherwise collect messages on the broker for days.
    session_expiry_s: int = 7 * 24 * 3600
    # Transactions the ingest writer runs at once on PostgreSQL (SQLite: always 1).
    writer_depth: int = 1
    # A device the centre has never seen: "pending" holds its punches until an administrator of the unit
    # assigns it (the rule, docs/contract.md); "accept" gives it to the first gateway that sends it, for
    # a lab or a single-office embedded install. Never "accept" where gateways of several units meet.
    new_devices: str = "pending"
    # The key file that seals biometric templates (server/services/biometric_keys.py); empty: none are stored.
    biometric_key_file: str = ""
    # Run a scoring worker in this replica (server/services/scoring_queue.py): it takes stale unit-months
    # from the queue shared by every replica and stores their scores, so pages read them warm.
    score_worker: bool = True
    # The agency's allowance policy: a preset name (scoring/presets/allowance) or a TOML file. Its
    # [performance] table says whether the allowance's performance component comes from the activity
    # minutes (the default) or from the realisation of the work plan (SKP) and the behaviour rating.
    allowance_policy: str = "social-affairs-2023"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServerSettings:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        mqtt = MqttSettings.from_url(env.get("KINERJA_MQTT_URL", DEFAULT_MQTT_URL))
        return cls(
            db_url=env.get("KINERJA_DB_URL", DEFAULT_DB_URL),
            mqtt=mqtt,
            http_host=env.get("KINERJA_HTTP_HOST", defaults.http_host),
            http_port=int(env.get("KINERJA_HTTP_PORT", defaults.http_port)),
            replica_id=env.get("KINERJA_REPLICA_ID") or mqtt.username or defaults.replica_id,
            share_group=env.get("KINERJA_SHARE_GROUP", defaults.share_group),
            receive_maximum=int(env.get("KINERJA_RECEIVE_MAXIMUM", defaults.receive_maximum)),
            units=tuple(unit.strip() for unit in env.get("KINERJA_UNITS", "").split(",") if unit.strip()),
            session_expiry_s=int(env.get("KINERJA_SESSION_EXPIRY_S", defaults.session_expiry_s)),
            writer_depth=int(env.get("KINERJA_WRITER_DEPTH", defaults.writer_depth)),
            new_devices=env.get("KINERJA_NEW_DEVICES", defaults.new_devices),
            biometric_key_file=env.get("KINERJA_BIOMETRIC_KEY_FILE", ""),
            allowance_policy=env.get("KINERJA_ALLOWANCE_POLICY", defaults.allowance_policy),
            score_worker=env.get("KINERJA_SCORE_WORKER", "1").lower() not in ("0", "false", "no"),
            migrate_on_start=env.get("KINERJA_MIGRATE_ON_START", "1").lower() not in ("0", "false", "no"),
        )
