"""The embedded default's broker: amqtt in-process, for a laptop with nothing installed.

amqtt speaks MQTT 3.1.1 only, so clients of the embedded broker use protocol 3.1.1 and the server
a plain (not shared) subscription: one server replica, which is all a laptop runs.
"""

from __future__ import annotations

import logging
import socket

from wire.mqtt import MqttSettings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._broker: object | None = None

    @property
    def settings(self) -> MqttSettings:
        return MqttSettings(host=self.host, port=self.port, protocol="3.1.1")

    async def start(self) -> None:
        from amqtt.broker import Broker  # only the embedded default needs amqtt installed

        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        await broker.start()
        self._broker = broker

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()  # type: ignore[attr-defined]
            self._broker = None
