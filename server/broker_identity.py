"""Broker identities managed live: Mosquitto's dynamic security plugin, driven from the server.

Instead of a password file and an ACL file that must be regenerated, copied and reloaded, the broker
keeps its clients, roles and ACLs in the plugin (`mosquitto_dynamic_security`, shipped with Debian's
mosquitto 2.0), and the server changes them at run time by publishing commands to
`$CONTROL/dynamic-security/v1` with an administrator login. Each gateway gets

- a client whose username is its gateway id, with a random password and its client id bound to it
  (the broker refuses the login with any other client id, and every other login with this one);
- a role of its own granting exactly what the static ACL grants (`server.edge`): publish its punches,
  status, telemetry and command results, subscribe to and receive its own acks and commands.

Server replicas each get their own client (username and bound client id: the replica id) with the
shared role `kinerja-server`. Revoking a gateway deletes its client and role: the broker drops its
connection at once and refuses it from then on. No restart, no file to copy.

    python -m server.broker_identity init /var/lib/mosquitto/dynamic-security.json   # before the broker starts
    python -m server.broker_identity add-replica kinerja-server-a                     # KINERJA_BROKER_ADMIN_URL
    python -m server.broker_identity add-gateway kemensos-pusat gw-kemensos-jkt-pusat
    python -m server.broker_identity revoke-gateway gw-kemensos-jkt-pusat
    python -m server.broker_identity show gw-kemensos-jkt-pusat

The enrolment flow calls `BrokerIdentities.create_gateway_identity` and `revoke_gateway`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import getpass
import glob
import hashlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from server.edge import _REPLACED, GATEWAY_READS, GATEWAY_WRITES, SERVER_READS, SERVER_WRITES, deployment_settings
from wire.contract import TOPIC_ROOT, topic_for, validate_slug
from wire.embedded import free_port
from wire.mqtt import MqttSettings

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
SERVER_ROLE = "kinerja-server"
ADMIN_ROLE = "kinerja-broker-admin"
DEFAULT_ADMIN = "kinerja-broker-admin"
GATEWAY_ROLE_PREFIX = "kinerja-gateway-"
# What no role grants is denied, receiving included: a client gets only the messages its role names.
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}
DYNSEC_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "kinerja-dynsec.conf"
# Mosquitto's dynsec stores PBKDF2-HMAC-SHA512 hashes; 101 iterations is what mosquitto_ctrl writes.
_HASH_ITERATIONS = 101


class DynsecError(RuntimeError):
    """The broker refused a dynamic-security command; the text is the broker's reason."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"broker refused {command}: {error}")
        self.command = command
        self.error = error


@dataclass(frozen=True, slots=True)
class BrokerCredentials:
    """A login for one client: what a gateway's config (or a replica's KINERJA_MQTT_URL) needs."""

    username: str
    password: str
    client_id: str

    def settings(self, base: MqttSettings) -> MqttSettings:
        from dataclasses import replace

        return replace(base, username=self.username, password=self.password)


def gateway_role(gateway_id: str) -> str:
    return GATEWAY_ROLE_PREFIX + validate_slug(gateway_id, "gateway")


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def gateway_acls(unit: str, gateway_id: str) -> list[dict[str, Any]]:
    """Exactly the static ACL's grants (server.edge.render_acl): literal topics, its own only."""
    acls = [_acl("publishClientSend", topic_for(unit, gateway_id, kind)) for kind in GATEWAY_WRITES]
    for kind in GATEWAY_READS:
        topic = topic_for(unit, gateway_id, kind)
        acls += [_acl("subscribeLiteral", topic), _acl("publishClientReceive", topic)]
    return acls


def server_acls() -> list[dict[str, Any]]:
    """Read every gateway's messages (directly or through a shared subscription), write acks and commands.
    Mosquitto 2.0's plugin checks a shared subscription with its `$share/<group>/` prefix, hence both."""
    acls = []
    for kind in SERVER_READS:
        pattern = f"{TOPIC_ROOT}/+/+/{kind.value}"
        acls += [
            _acl("subscribePattern", pattern),
            _acl("subscribePattern", f"$share/+/{pattern}"),
            _acl("publishClientReceive", pattern),
        ]
    acls += [_acl("publishClientSend", f"{TOPIC_ROOT}/+/+/{kind.value}") for kind in SERVER_WRITES]
    return acls


def admin_acls() -> list[dict[str, Any]]:
    """The dynsec control topics and nothing else (mosquitto_ctrl's own admin role also reads `#`)."""
    return [
        _acl("publishClientSend", "$CONTROL/dynamic-security/#"),
        _acl("publishClientReceive", "$CONTROL/dynamic-security/#"),
        _acl("subscribePattern", "$CONTROL/dynamic-security/#"),
    ]


def _check_login(name: str, what: str) -> str:
    if not name or len(name) > 64 or any(ch.isspace() or ch in "#+/" for ch in name):
        raise ValueError(f"{what} {name!r}: 1-64 characters, no spaces, '#', '+' or '/'")
    return name


def new_password() -> str:
    return secrets.token_urlsafe(32)


def hashed_password(password: str) -> dict[str, Any]:
    """The plugin's stored form of a password, as mosquitto_ctrl writes it."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _HASH_ITERATIONS, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": _HASH_ITERATIONS,
    }


def initial_config(admin_username: str, admin_password: str) -> dict[str, Any]:
    """The plugin's file for a new broker: our administrator, the server role, deny by default.
    Mosquitto 2.0 does not create this file itself; it rewrites it on every change afterwards."""
    _check_login(admin_username, "administrator")
    return {
        "clients": [
            {
                "username": admin_username,
                "textname": "Kinerja: manages broker identities",
                **hashed_password(admin_password),
                "roles": [{"rolename": ADMIN_ROLE}],
            }
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls()},
            {"rolename": SERVER_ROLE, "textname": "Kinerja server replicas", "acls": server_acls()},
        ],
        "defaultACLAccess": DEFAULT_ACL_ACCESS,
    }


def write_initial_config(path: Path, admin_username: str, admin_password: str) -> None:
    if path.exists():
        raise FileExistsError(f"{path} exists: the broker's identities are in it; not overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(initial_config(admin_username, admin_password), out, indent=1)


class BrokerIdentities:
    """One administrator connection to the broker's dynamic-security plugin.

    async with BrokerIdentities(admin_settings) as broker:
        credentials = await broker.create_gateway_identity("kemensos-pusat", "gw-jkt-pusat")
        await broker.revoke_gateway("gw-jkt-pusat")
    """

    def __init__(self, admin: MqttSettings, *, timeout_s: float = 10) -> None:
        if not admin.username:
            raise ValueError("the broker administrator's login is needed (KINERJA_BROKER_ADMIN_URL)")
        self.admin = admin
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connected: asyncio.Future[ReasonCode] | None = None
        self._subscribed: asyncio.Future[None] | None = None
        # The admin login may act from several replicas at once: a client id of its own per connection.
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{admin.username}-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5 if admin.protocol == "5" else paho.MQTTv311,
        )
        self._client.username_pw_set(admin.username, admin.password)
        if admin.tls:
            import ssl

            self._client.tls_set(ca_certs=admin.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect

    async def __aenter__(self) -> BrokerIdentities:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        self._subscribed = self._loop.create_future()
        self._client.connect_async(self.admin.host, self.admin.port, self.admin.keepalive_s)
        self._client.loop_start()
        try:
            reason = await asyncio.wait_for(self._connected, self.timeout_s)
        except TimeoutError:
            await self.close()
            raise ConnectionError(f"broker {self.admin.redacted()} did not answer within {self.timeout_s} s") from None
        if reason.is_failure:
            await self.close()
            raise ConnectionError(f"broker {self.admin.redacted()} refused the administrator: {reason}")
        self._client.subscribe(RESPONSE_TOPIC, qos=1)
        await asyncio.wait_for(self._subscribed, self.timeout_s)

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("administrator connection closed"))

    async def execute(self, *commands: dict[str, Any], tolerate: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Send the commands in one message (the plugin runs them in order) and return each one's response.
        A response with an error raises DynsecError, unless its text contains one of `tolerate`."""
        assert self._loop is not None, "connect() first"
        futures = []
        tagged = []
        for command in commands:
            tag = uuid.uuid4().hex
            future = self._loop.create_future()
            self._pending[tag] = future
            futures.append(future)
            tagged.append({**command, "correlationData": tag})
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        try:
            responses = await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"the broker's dynamic-security plugin did not answer within {self.timeout_s} s"
            ) from None
        finally:
            for command in tagged:
                self._pending.pop(command["correlationData"], None)
        for command, response in zip(commands, responses, strict=True):
            error = response.get("error")
            if error and not any(text in error for text in tolerate):
                raise DynsecError(command["command"], error)
        return list(responses)

    # --- what the enrolment flow and the CLI use ---------------------------------------------------

    async def ensure_server_role(self) -> None:
        """Create the replicas' role if the broker was initialised without it (e.g. by mosquitto_ctrl),
        and set what anything not granted gets: nothing."""
        await self.execute(
            {"command": "createRole", "rolename": SERVER_ROLE, "acls": server_acls()}, tolerate=("already exists",)
        )
        await self.execute(
            {
                "command": "setDefaultACLAccess",
                "acls": [{"acltype": acltype, "allow": allow} for acltype, allow in DEFAULT_ACL_ACCESS.items()],
            }
        )

    async def create_gateway_identity(
        self, unit: str, gateway_id: str, *, password: str | None = None, replace: bool = False
    ) -> BrokerCredentials:
        """A login for this gateway alone: its client (bound to its client id) and its role.
        `replace=True` first revokes an existing one (re-enrolment: the old login stops working at once)."""
        validate_slug(unit, "unit")
        role = gateway_role(gateway_id)
        if replace:
            await self.revoke_gateway(gateway_id)
        credentials = BrokerCredentials(gateway_id, password or new_password(), gateway_id)
        try:
            await self.execute(
                {
                    "command": "createRole",
                    "rolename": role,
                    "textname": f"Kinerja gateway {gateway_id} of {unit}",
                    "acls": gateway_acls(unit, gateway_id),
                },
                {
                    "command": "createClient",
                    "username": credentials.username,
                    "password": credentials.password,
                    "clientid": credentials.client_id,
                    "textname": f"Kinerja gateway of {unit}",
                    "roles": [{"rolename": role}],
                },
            )
        except DynsecError as exc:
            if exc.command == "createClient":  # do not leave a role behind that nobody holds
                await self.execute({"command": "deleteRole", "rolename": role}, tolerate=("not found",))
            raise
        log.info("broker identity created for gateway %s of %s", gateway_id, unit)
        return credentials

    async def revoke_gateway(self, gateway_id: str) -> bool:
        """Delete the gateway's client and role: the broker drops its connection now and refuses it from
        then on. False when it had none."""
        responses = await self.execute(
            {"command": "deleteClient", "username": _check_login(gateway_id, "gateway")},
            {"command": "deleteRole", "rolename": gateway_role(gateway_id)},
            tolerate=("not found",),
        )
        existed = "error" not in responses[0]
        if existed:
            log.info("broker identity of gateway %s revoked", gateway_id)
        return existed

    async def create_replica_identity(self, replica_id: str, *, password: str | None = None) -> BrokerCredentials:
        """One login per server replica (username and bound client id: its KINERJA_REPLICA_ID)."""
        _check_login(replica_id, "replica id")
        await self.ensure_server_role()
        credentials = BrokerCredentials(replica_id, password or new_password(), replica_id)
        await self.execute(
            {
                "command": "createClient",
                "username": replica_id,
                "password": credentials.password,
                "clientid": replica_id,
                "textname": "Kinerja server replica",
                "roles": [{"rolename": SERVER_ROLE}],
            }
        )
        return credentials

    async def revoke_replica(self, replica_id: str) -> bool:
        (response,) = await self.execute(
            {"command": "deleteClient", "username": _check_login(replica_id, "replica id")}, tolerate=("not found",)
        )
        return "error" not in response

    async def client(self, username: str) -> dict[str, Any] | None:
        """The plugin's record of a client (username, clientid, roles, disabled), or None."""
        (response,) = await self.execute({"command": "getClient", "username": username}, tolerate=("not found",))
        return None if "error" in response else response.get("data", {}).get("client")

    async def role(self, rolename: str) -> dict[str, Any] | None:
        (response,) = await self.execute({"command": "getRole", "rolename": rolename}, tolerate=("not found",))
        return None if "error" in response else response.get("data", {}).get("role")

    # --- paho callbacks (its network thread) -------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, props: object
    ) -> None:
        self._resolve(self._connected, reason)

    def _on_subscribe(
        self, client: paho.Client, userdata: object, mid: int, reasons: list[ReasonCode], props: object
    ) -> None:
        if reasons and reasons[0].is_failure:
            self._fail(self._subscribed, PermissionError(f"the administrator may not read {RESPONSE_TOPIC}"))
        else:
            self._resolve(self._subscribed, None)

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, props: object
    ) -> None:
        if self._connected is not None and not self._connected.done():
            self._resolve(self._connected, reason)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable dynamic-security response: %r", message.payload[:200])
            return
        for response in responses:
            future = self._pending.get(str(response.get("correlationData")))
            if future is not None:
                self._resolve(future, response)

    def _resolve(self, future: asyncio.Future[Any] | None, value: object) -> None:
        if future is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: future.done() or future.set_result(value))

    def _fail(self, future: asyncio.Future[Any] | None, error: Exception) -> None:
        if future is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: future.done() or future.set_exception(error))


# --- a broker of our own, for tests and for trying the configuration before rollout ------------------


def dynsec_plugin_path() -> str:
    """Debian installs the plugin under the architecture's library directory."""
    found = sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so"))
    if not found:
        raise FileNotFoundError("mosquitto_dynamic_security.so not found (apt-get install mosquitto)")
    return found[0]


@dataclass
class DynsecBroker:
    port: int
    admin: MqttSettings
    config_file: Path
    log_path: Path

    def settings(self, credentials: BrokerCredentials | None = None) -> MqttSettings:
        base = MqttSettings(port=self.port)
        return credentials.settings(base) if credentials else base


@contextlib.contextmanager
def local_dynsec_broker(workdir: Path, *, conf: Path = DYNSEC_CONF, debug_log: bool = False) -> Iterator[DynsecBroker]:
    """Mosquitto with the deployment's dynsec configuration on a free loopback port, initialised with
    a fresh administrator (random password) and the server role."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    admin = MqttSettings(port=port, username=DEFAULT_ADMIN, password=new_password())
    config_file = workdir / "dynamic-security.json"
    write_initial_config(config_file, DEFAULT_ADMIN, admin.password or "")
    replaced = {*_REPLACED, "plugin", "plugin_opt_config_file"}
    log_path = workdir / "mosquitto.log"
    conf_path = workdir / "mosquitto.conf"
    conf_path.write_text(
        "\n".join(
            [
                *deployment_settings(conf, replaced, f"listener {port} 127.0.0.1"),
                f"plugin {dynsec_plugin_path()}",
                f"plugin_opt_config_file {config_file}",
                "persistence false",
                f"log_dest file {log_path}",
                *(["log_type all"] if debug_log else []),
                f"user {getpass.getuser()}",  # as root it would switch to `mosquitto`, who cannot write here
            ]
        )
        + "\n"
    )
    process = subprocess.Popen(["mosquitto", "-c", str(conf_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr and process.poll() is not None else ""
                raise RuntimeError(f"mosquitto did not start: {error}")
            time.sleep(0.05)
        yield DynsecBroker(port, admin, config_file, log_path)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- command line ---------------------------------------------------------------------------------


def _admin_from_env() -> MqttSettings:
    url = os.environ.get("KINERJA_BROKER_ADMIN_URL")
    if not url:
        raise ValueError("set KINERJA_BROKER_ADMIN_URL, e.g. mqtt://kinerja-broker-admin:PASS@127.0.0.1:1883")
    return MqttSettings.from_url(url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.broker_identity", description=__doc__.split("\n\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="write the plugin's file for a new broker (password from stdin)")
    init.add_argument("config_file", type=Path)
    init.add_argument("--admin", default=DEFAULT_ADMIN, help="the administrator's username")
    replica = actions.add_parser("add-replica", help="a login for one server replica; prints its password")
    replica.add_argument("replica_id")
    gateway = actions.add_parser("add-gateway", help="a login for one gateway; prints its password")
    gateway.add_argument("unit")
    gateway.add_argument("gateway_id")
    gateway.add_argument("--replace", action="store_true", help="revoke an existing login first")
    revoke = actions.add_parser("revoke-gateway", help="delete a gateway's login; its connection drops now")
    revoke.add_argument("gateway_id")
    show = actions.add_parser("show", help="print a client's record")
    show.add_argument("username")
    args = parser.parse_args(argv)

    if args.action == "init":
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 16:
            raise SystemExit("the administrator's password (stdin) must have at least 16 characters")
        write_initial_config(args.config_file, args.admin, password)
        print(f"wrote {args.config_file}; make it the mosquitto user's: chown mosquitto: {args.config_file}")
        return 0

    async def run() -> object:
        async with BrokerIdentities(_admin_from_env()) as broker:
            if args.action == "add-replica":
                return await broker.create_replica_identity(args.replica_id)
            if args.action == "add-gateway":
                return await broker.create_gateway_identity(args.unit, args.gateway_id, replace=args.replace)
            if args.action == "revoke-gateway":
                return "revoked" if await broker.revoke_gateway(args.gateway_id) else "no such gateway login"
            return await broker.client(args.username) or "no such client"

    result = asyncio.run(run())
    if isinstance(result, BrokerCredentials):
        print(f"username: {result.username}\nclient id: {result.client_id}\npassword: {result.password}")
    else:
        print(result if isinstance(result, str) else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
