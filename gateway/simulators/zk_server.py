"""The sockets of the ZK simulator: a TCP and a UDP server on one port number, one session per client.

Transport only: framing, threads, sessions and the ordering of live events. What a command means is
the business of `answer`, supplied by the simulator (gateway/simulators/zk.py).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.simulators import zk_protocol as wire

log = logging.getLogger(__name__)

_POLL_S = 0.1  # how often server threads look at the stop flag
_MAX_UDP_SESSIONS = 64  # UDP clients that vanish without CMD_EXIT must not pile up
# A hung UDP session has no connection to close: the firmware's watchdog ends it after this long, which
# also lifts its hold on the terminal (a client that disabled it and then hung).
HUNG_UDP_SESSION_EXPIRY_S = 2.0


DEFAULT_PACKET_GAP_S = 0.003


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the firmware puts packets on a TCP connection (read live, so knobs can change mid-run).

    gap_s: at least this long between two packets of one data transfer, between transfers, and between
        live events: the time a terminal's CPU takes to fetch the next piece. Clients that decode one
        packet per read (the npm ZK clients) depend on it, as they do on a real device.
    coalesce: the firmware some devices run (node-zklib #48) that writes a whole answer at once.
    """

    gap_s: float = DEFAULT_PACKET_GAP_S
    coalesce: bool = False


@dataclass(eq=False)
class Session:
    """One client: a TCP connection, or a UDP peer address between CMD_CONNECT and CMD_EXIT."""

    transport: str
    write: Callable[[bytes], None]  # TCP: bytes onto the stream; UDP: one datagram
    pacing: Callable[[], Pacing] = Pacing
    session_id: int = 0
    authenticated: bool = False
    buffer: bytes | None = None  # the table snapshot of a buffered read in progress
    buffer_is_log: bool = False  # that snapshot is the attendance log
    chunks_served: int = 0
    upload: bytearray | None = None  # what the client is sending with CMD_PREPARE_DATA / CMD_DATA
    upload_size: int = 0
    event_flags: int = 0
    events_sent: int = 0  # live events sent on this connection (each punch once, whatever its copies)
    events_acked: int = 0  # the client's CMD_ACK_OKs after live events (pyzk sends one per socket read)
    hung: bool = False
    hung_at: float = 0.0
    closed: bool = False
    _last_sent_at: float = 0.0
    _in_transfer: bool = False  # the last answer was a data transfer: the next one keeps the pace
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, packets: list[bytes]) -> None:
        """An answer: each packet in a write of its own (TCP), paced within and after a data transfer."""
        with self._send_lock:
            transfer = len(packets) > 1
            self._write_paced(packets, pace_first=self._in_transfer or transfer)
            self._in_transfer = transfer

    def hang(self) -> None:
        """Stop answering this client: as if the firmware were stuck on its request."""
        self.hung, self.hung_at = True, time.monotonic()

    def push_events(self, packets: list[bytes], *, burst: bool) -> None:
        """Live events, sent as they happen without waiting for the client's ACK (terminals do not wait).
        A burst (punches of one moment) goes out in one segment, as firmware sends it at the morning rush."""
        with self._send_lock:
            if self.hung or self.closed:
                return
            try:
                if burst and self.transport == "tcp":
                    self._pause(self.pacing().gap_s)
                    self.write(b"".join(wire.tcp_frame(packet) for packet in packets))
                    self._last_sent_at = time.monotonic()
                else:
                    self._write_paced(packets, pace_first=True)
            except OSError as error:
                log.debug("live event not delivered: %s", error)

    def end(self) -> None:
        with self._send_lock:
            self.closed = True

    def _write_paced(self, packets: list[bytes], *, pace_first: bool) -> None:
        if self.transport == "udp":
            for packet in packets:
                self.write(packet)
            return
        pacing = self.pacing()
        if pacing.coalesce:
            self.write(b"".join(wire.tcp_frame(packet) for packet in packets))
            return
        for index, packet in enumerate(packets):
            if index or pace_first:
                self._pause(pacing.gap_s)
            self.write(wire.tcp_frame(packet))
            self._last_sent_at = time.monotonic()

    def _pause(self, gap_s: float) -> None:
        wait = self._last_sent_at + gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)


Answer = Callable[[Session, wire.Packet], tuple[list[bytes], bool]]


class ZKServer:
    """Serves `answer` on TCP and/or UDP. `answer` returns the reply packets and whether to stay open."""

    def __init__(
        self,
        name: str,
        answer: Answer,
        *,
        on_session_end: Callable[[Session], None],
        response_delay_s: Callable[[], float],
        pacing: Callable[[], Pacing] = Pacing,
        single_client: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._name = name
        self._answer_request = answer
        self._on_session_end = on_session_end
        self._response_delay_s = response_delay_s
        self._pacing = pacing
        self._single_client = single_client
        self._udp_sessions: dict[tuple[str, int], Session] = {}
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def running(self) -> bool:
        return bool(self._threads)

    def start(self, host: str, port: int, *, tcp: bool, udp: bool) -> int:
        """Bind and serve; returns the port (chosen by the OS when `port` is 0)."""
        self._stopping.clear()
        listener, datagrams, port = _bind(host, port, tcp=tcp, udp=udp)
        if listener is not None:
            self._spawn(self._accept_loop, listener)
        if datagrams is not None:
            self._spawn(self._udp_loop, datagrams)
        return port

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wakes a thread blocked in sendall
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        while True:
            with self._lock:
                if not self._threads:
                    break
                thread = self._threads.pop()
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def wait_stopped(self, timeout_s: float) -> bool:
        return self._stopping.wait(timeout_s)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"zk-sim-{self._name}", daemon=True)
        # Started under the lock: stop() pops threads under it too, and must never join one not yet started.
        with self._lock:
            self._threads.add(thread)
            thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                if not select.select([listener], [], [], _POLL_S)[0]:
                    continue
                try:
                    connection, address = listener.accept()
                except OSError:
                    continue
                if not self._admit(connection):
                    continue
                self._spawn(self._serve_tcp, connection, address)

    def _admit(self, connection: socket.socket) -> bool:
        """Firmware that serves one TCP client at a time refuses a second one, or drops the first."""
        policy = self._single_client()
        with self._lock:
            # A client that has already hung up (pyzk's connect-and-close probe just before it connects
            # for real) is gone for the terminal too, even if its serving thread has not noticed yet.
            others = [other for other in self._connections if _peer_still_open(other)]
        if not policy or not others:
            return True
        if policy == "refuse_new":
            log.info("ZK simulator %s: a second client refused (one client at a time)", self._name)
            # A reset, as the terminal's stack answers a connection it will not serve.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
            return False
        log.info("ZK simulator %s: a new client drops the one before (one client at a time)", self._name)
        for other in others:
            with contextlib.suppress(OSError):
                other.shutdown(socket.SHUT_RDWR)
        return True

    def _serve_tcp(self, connection: socket.socket, address: tuple[str, int]) -> None:
        # A terminal's network stack sends each write at once; pacing is the firmware's, not Nagle's.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session("tcp", connection.sendall, self._pacing)
        with self._lock:
            self._connections.add(connection)
        pending = bytearray()
        try:
            while not self._stopping.is_set():
                if not select.select([connection], [], [], _POLL_S)[0]:
                    continue
                data = connection.recv(65536)
                if not data:  # also pyzk's connect-and-close reachability probe
                    break
                if session.hung:
                    continue
                pending += data
                if not all(self._answer(session, packet) for packet in wire.pop_tcp_frames(pending)):
                    break
        except wire.ZKProtocolError as error:
            log.warning("ZK simulator %s: dropping TCP client %s: %s", self._name, address, error)
        except OSError as error:
            log.debug("ZK simulator %s: TCP client %s gone: %s", self._name, address, error)
        finally:
            self._end(session)
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def _udp_loop(self, datagrams: socket.socket) -> None:
        with datagrams:
            while not self._stopping.is_set():
                self._expire_hung_udp_sessions()
                if not select.select([datagrams], [], [], _POLL_S)[0]:
                    continue
                try:
                    data, address = datagrams.recvfrom(65535)
                except OSError:
                    continue
                session = self._udp_sessions.get(address)
                if session is None:

                    def send_datagram(packet: bytes, peer: tuple[str, int] = address) -> None:
                        datagrams.sendto(packet, peer)

                    session = Session("udp", send_datagram, self._pacing)
                if session.hung:
                    continue
                try:
                    keep = self._answer(session, data)
                except wire.ZKProtocolError as error:
                    log.warning("ZK simulator %s: ignoring datagram from %s: %s", self._name, address, error)
                    continue
                except OSError as error:
                    log.debug("ZK simulator %s: UDP send to %s failed: %s", self._name, address, error)
                    keep = False
                self._track_udp_session(address, session, keep=keep)
            for session in self._udp_sessions.values():
                self._end(session)
            self._udp_sessions.clear()

    def _track_udp_session(self, address: tuple[str, int], session: Session, *, keep: bool) -> None:
        """A connected peer's session is remembered (the oldest dropped past the cap); a closed one ended."""
        if keep and session.session_id and address not in self._udp_sessions:
            self._udp_sessions[address] = session
            if len(self._udp_sessions) > _MAX_UDP_SESSIONS:
                self._end(self._udp_sessions.pop(next(iter(self._udp_sessions))))
        elif not keep:
            self._udp_sessions.pop(address, None)
            self._end(session)

    def _expire_hung_udp_sessions(self) -> None:
        """Called from the UDP thread only, which alone touches `_udp_sessions`."""
        now = time.monotonic()
        for address, session in list(self._udp_sessions.items()):
            if session.hung and now - session.hung_at > HUNG_UDP_SESSION_EXPIRY_S:
                del self._udp_sessions[address]
                self._end(session)

    def _answer(self, session: Session, raw: bytes) -> bool:
        """Answer one request packet; False when the connection is to be closed."""
        request = wire.unpack_packet(raw)
        if request.command == wire.CMD_ACK_OK:  # the client acknowledges a live event: no answer, no wait
            session.events_acked += 1
            return True
        try:
            packets, keep = self._answer_request(session, request)
        except (ValueError, struct.error) as error:  # a malformed payload costs one error answer
            log.warning("ZK simulator %s: command %d refused: %s", self._name, request.command, error)
            packets, keep = [wire.pack_packet(wire.CMD_ACK_ERROR, session.session_id, request.reply_id)], True
        except Exception:  # a simulator bug must not take the server thread down either
            log.exception("ZK simulator %s: command %d failed", self._name, request.command)
            packets, keep = [wire.pack_packet(wire.CMD_ACK_ERROR, session.session_id, request.reply_id)], True
        delay = self._response_delay_s()
        if packets and delay and self._stopping.wait(delay):
            return False
        if packets:
            session.send(packets)
        return keep

    def _end(self, session: Session) -> None:
        session.end()
        self._on_session_end(session)


def _bind(host: str, port: int, *, tcp: bool, udp: bool) -> tuple[socket.socket | None, socket.socket | None, int]:
    """TCP first, then UDP on the same number; with port 0, retry until both are free."""
    for _attempt in range(20):
        listener = datagrams = None
        chosen = port
        try:
            if tcp:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((host, chosen))
                listener.listen(16)
                chosen = listener.getsockname()[1]
            if udp:
                datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                datagrams.bind((host, chosen))
                chosen = datagrams.getsockname()[1]
        except OSError:
            for sock in (listener, datagrams):
                if sock is not None:
                    sock.close()
            if port:
                raise
            continue
        return listener, datagrams, chosen
    raise OSError(f"no port free for both TCP and UDP on {host}")


def _peer_still_open(connection: socket.socket) -> bool:
    """False once the peer has closed its end (an empty peek) or the socket failed."""
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True  # open, nothing to read
    except OSError:
        return False
