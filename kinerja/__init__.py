"""Kinerja: attendance and e-Performance for Indonesian government offices.

This package holds what the gateway and the server share (the MQTT contract, the MQTT transport,
office time zones) and the `kinerja` command line. Device code lives in `gateway`, the central
service in `server`, the pure scoring rules in `scoring`.
"""

__version__ = "0.1.0"
