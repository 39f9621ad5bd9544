"""paho-mqtt 2.x driven from asyncio: the transport under both the gateway relay and the server consumer.

paho runs its network loop in its own thread (reconnecting by itself); this wrapper moves incoming
messages onto the asyncio loop and lets the application acknowledge each one only when it has
finished with it (manual PUBACK), so a message the application did not finish is redelivered.
It knows nothing of punches, queues or databases; of the contract it knows only the topic address
and how each kind travels (`send`: QoS and retain from contract.DELIVERY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from wire.contract import TopicAddress

log = logging.getLogger(__name__)

ProtocolVersion = Literal["5", "3.1.1"]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how to connect. Written as a URL in config: mqtt[s]://user:pass@host:port?protocol=5&ca=/path"""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    protocol: ProtocolVersion = "5"
    keepalive_s: int = 30

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://, got {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError(f"MQTT URL {url!r}: no host")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        protocol = query.get("protocol", "5")
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT URL {url!r}: protocol must be 5 or 3.1.1, got {protocol!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=query.get("ca"),
            protocol=protocol,  # type: ignore[arg-type]
        )

    def redacted(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}?protocol={self.protocol}"


@dataclass(frozen=True, slots=True)
class LastWill:
    """What the broker publishes for this client when it vanishes; QoS and retain are the address kind's."""

    address: TopicAddress
    payload: bytes


@dataclass(slots=True)
class IncomingMessage:
    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    holds_slot: bool = field(default=False, repr=False, compare=False)
    """Counted in its client's window of messages handed over and not yet acked (``window``)."""


MessageHandler = Callable[[IncomingMessage], Awaitable[None]]
ConnectHook = Callable[[], Awaitable[None]]


@dataclass
class _Subscription:
    topic_filter: str
    qos: int
    handler: MessageHandler


@dataclass
class _PublishWaits:
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    completed_early: set[int] = field(default_factory=set)


class AsyncMqttClient:
    """One MQTT connection. `persistent=True` keeps the session (subscriptions and QoS 1 backlog)
    on the broker across disconnects, so nothing sent while this client was away is lost."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        persistent: bool = True,
        session_expiry_s: int = 7 * 24 * 3600,
        will: LastWill | None = None,
        receive_maximum: int = 100,
        window: int | None = None,
    ) -> None:
        """``window``: at most this many received messages handed to the handlers and not yet acked; the
        next one waits in paho's network thread, which then stops reading the socket, so the broker keeps
        the backlog (and a gateway whose batch it dropped resends it). Without it, a broker that sends
        beyond the Receive Maximum (Mosquitto 2.0 does, and MQTT 3.1.1 has none) fills this process's
        memory as fast as it delivers. ``None``: unbounded, for clients whose handlers do not ack."""
        self.settings = settings
        self.client_id = client_id
        self._persistent = persistent
        self._session_expiry_s = session_expiry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscriptions: list[_Subscription] = []
        self._connect_hooks: list[ConnectHook] = []
        self._connected = asyncio.Event()
        self._inbox: asyncio.Queue[tuple[_Subscription, IncomingMessage]] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._waits = _PublishWaits()
        self._closing = False
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._window_size = window
        self._window = threading.Condition()
        self._in_flight = 0

        v5 = settings.protocol == "5"
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else not persistent,
            manual_ack=True,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        # Many small batches may be in flight at once; paho's default of 20 would throttle a backlog drain.
        self._client.max_inflight_messages_set(receive_maximum)
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set(ca_certs=settings.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if will:
            delivery = will.address.delivery
            self._client.will_set(will.address.topic, will.payload, qos=delivery.qos, retain=delivery.retain)
        self._receive_maximum = receive_maximum
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Register before or after start; (re)subscribed on every connect."""
        subscription = _Subscription(topic_filter, qos, handler)
        self._subscriptions.append(subscription)
        if self.is_connected:
            self._client.subscribe(topic_filter, qos)

    def on_connected(self, hook: ConnectHook) -> None:
        """Run `hook` on the asyncio loop after every (re)connect: birth messages, resends."""
        self._connect_hooks.append(hook)

    async def start(self) -> None:
        """Begin connecting in the background; paho retries until the broker answers."""
        self._loop = asyncio.get_running_loop()
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"mqtt-dispatch-{self.client_id}")
        kwargs: dict[str, object] = {}
        if self.settings.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self._session_expiry_s if self._persistent else 0
            properties.ReceiveMaximum = self._receive_maximum
            kwargs = {"clean_start": not self._persistent, "properties": properties}
        self._client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive_s, **kwargs)
        self._client.loop_start()

    async def wait_connected(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            raise ConnectionError(
                f"MQTT broker {self.settings.redacted()} did not accept client {self.client_id!r} "
                f"within {timeout_s:.0f} s"
            ) from None

    def send(self, address: TopicAddress, payload: bytes) -> int:
        """Publish a contract message, travelling as its kind is declared (QoS, retain). Returns the message id."""
        delivery = address.delivery
        return self.publish(address.topic, payload, qos=delivery.qos, retain=delivery.retain)

    async def send_confirmed(self, address: TopicAddress, payload: bytes, *, timeout_s: float = 10) -> None:
        """`send` and wait for the broker's PUBACK (at once for a QoS 0 kind)."""
        delivery = address.delivery
        await self.publish_confirmed(
            address.topic, payload, qos=delivery.qos, retain=delivery.retain, timeout_s=timeout_s
        )

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Hand a message to paho (queued while disconnected when QoS > 0). Returns the message id.
        The raw form, for topics outside the contract and for tests; contract messages go by `send`."""
        return self._client.publish(topic, payload, qos=qos, retain=retain).mid

    async def publish_confirmed(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 10
    ) -> None:
        """Publish and wait for the broker's PUBACK. A PUBACK is not delivery to any subscriber."""
        assert self._loop is not None, "start() first"
        future: asyncio.Future[None] = self._loop.create_future()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        with self._waits.lock:
            if info.mid in self._waits.completed_early or qos == 0:
                self._waits.completed_early.discard(info.mid)
                future.set_result(None)
            else:
                self._waits.pending[info.mid] = future
        try:
            await asyncio.wait_for(future, timeout_s)
        finally:
            with self._waits.lock:
                self._waits.pending.pop(info.mid, None)

    def ack(self, message: IncomingMessage) -> None:
        """PUBACK an incoming QoS 1 message: the broker may forget it now."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)
        self._release(message)

    @property
    def in_flight(self) -> int:
        """Messages received, handed to the handlers and not yet acked (bounded by ``window`` if set)."""
        return self._in_flight

    def _release(self, message: IncomingMessage) -> None:
        if not message.holds_slot:
            return
        message.holds_slot = False
        with self._window:
            self._in_flight -= 1
            self._window.notify()

    def _take_slot(self) -> bool:
        """On paho's network thread: wait for room in the window; False when closing meanwhile."""
        with self._window:
            while self._window_size is not None and self._in_flight >= self._window_size:
                if self._closing:
                    return False
                self._window.wait(0.2)
            self._in_flight += 1
        return True

    async def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        if self._dispatcher:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        self._connected.clear()

    # --- paho callbacks: these run on paho's network thread, never touch asyncio state directly ---

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT %s refused client %s: %s", self.settings.redacted(), self.client_id, reason)
            return
        log.info("MQTT client %s connected to %s", self.client_id, self.settings.redacted())
        for subscription in self._subscriptions:
            client.subscribe(subscription.topic_filter, subscription.qos)
        self._call_soon(self._after_connect)

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        if not self._closing:
            log.warning("MQTT client %s lost its connection: %s", self.client_id, reason)
        self._call_soon(self._connected.clear)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        incoming = IncomingMessage(message.topic, message.payload, message.qos, message.mid, message.retain)
        for subscription in self._subscriptions:
            if paho.topic_matches_sub(_without_share(subscription.topic_filter), message.topic):
                if not self._take_slot():
                    return  # closing: not acked, so the broker delivers it again to this session
                incoming.holds_slot = True
                self._call_soon(self._inbox.put_nowait, (subscription, incoming))
                return
        log.warning("MQTT client %s got a message on %s it did not subscribe to", self.client_id, message.topic)
        if message.qos > 0:
            client.ack(message.mid, message.qos)

    def _on_publish(
        self, client: paho.Client, userdata: object, mid: int, reason: ReasonCode, properties: object
    ) -> None:
        with self._waits.lock:
            future = self._waits.pending.pop(mid, None)
            if future is None:
                self._waits.completed_early.add(mid)
                return
        self._call_soon(_resolve, future)

    def _call_soon(self, callback: Callable[..., object], *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                self._loop.call_soon_threadsafe(callback, *args)

    def _after_connect(self) -> None:
        self._connected.set()
        for hook in self._connect_hooks:
            task = asyncio.ensure_future(hook())
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    async def _dispatch(self) -> None:
        # One message at a time, in arrival order: PUBACKs go out in the order the broker sent.
        while True:
            subscription, message = await self._inbox.get()
            try:
                await subscription.handler(message)
            except Exception:
                # The handler did not ack: the broker redelivers after reconnect. Keep serving the rest.
                log.exception("handler for %s failed on a message from %s", subscription.topic_filter, message.topic)
                self._release(message)
            else:
                if message.qos == 0:  # nothing to ack: its slot is free once handled
                    self._release(message)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _without_share(topic_filter: str) -> str:
    if topic_filter.startswith("$share/"):
        return topic_filter.split("/", 2)[2]
    return topic_filter
