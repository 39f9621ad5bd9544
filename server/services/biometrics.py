"""Biometric uploads from gateways (wire/contract.py BiometricUpload), taken in the minimal way until
the centre has its encrypted template store (issue 18, server side).

Every upload is answered on its gateway's biometric_acks topic and the MQTT message acknowledged:
- one that breaks the contract is quarantined with its template withheld and answered `rejected`;
- a valid one cannot be stored yet: its metadata (device, PIN, slot, format, size; never the template)
  is quarantined once per upload id for a person to see what is waiting, and it is answered `deferred`,
  so the gateway keeps the template and offers it again after `retry_after_s`. Nothing is lost, and no
  template is written to this database unencrypted.

With a biometric key file configured (KINERJA_BIOMETRIC_KEY_FILE), a valid upload goes instead to the
encrypted template store (server/services/biometric_store.py) and is answered `stored`; this judge then only sees
the ones that break the contract, and a centre without a key keeps deferring.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict

from wire.contract import (
    MAX_BIOMETRIC_BYTES,
    BiometricAck,
    BiometricAckStatus,
    BiometricUpload,
    ContractError,
    TopicAddress,
    peek_id,
)

DEFERRED_RETRY_S = 6 * 3600
_REMEMBERED = 4096
_TEMPLATE_FIELD = re.compile(rb'"template"\s*:\s*"[^"]*"')


class BiometricIntake:
    """Judges one upload: what to answer, and what (if anything) to keep in quarantine."""

    def __init__(self) -> None:
        self._quarantined: OrderedDict[str, None] = OrderedDict()  # upload ids kept aside this run
        self.received = 0
        self.deferred = 0
        self.rejected = 0

    def judge(self, address: TopicAddress, payload: bytes) -> tuple[BiometricAck | None, bytes | None, str]:
        """(the ack to send, or None when no id can be read; the payload to quarantine, or None; reason)."""
        self.received += 1
        try:
            upload = BiometricUpload.from_json(payload)
            if upload.gateway_id != address.gateway or upload.unit != address.unit:
                raise ContractError(f"gateway_id/unit {upload.gateway_id}/{upload.unit} is not the topic's")
        except ContractError as exc:
            self.rejected += 1
            upload_id = peek_id(payload, "upload_id", MAX_BIOMETRIC_BYTES)
            reason = f"biometric upload rejected: {exc}"
            ack = BiometricAck(upload_id, BiometricAckStatus.REJECTED, reason=reason) if upload_id else None
            return ack, withhold_template(payload), reason
        self.deferred += 1
        reason = (
            f"biometric upload {upload.upload_id} deferred: the centre has no template store yet "
            f"(device {upload.device_serial}, PIN {upload.pin}, {upload.modality} {upload.index}, "
            f"{upload.template_format}); the gateway keeps it and offers it again"
        )
        ack = BiometricAck(upload.upload_id, BiometricAckStatus.DEFERRED, reason=reason, retry_after_s=DEFERRED_RETRY_S)
        if upload.upload_id in self._quarantined:
            return ack, None, reason
        self._quarantined[upload.upload_id] = None
        while len(self._quarantined) > _REMEMBERED:
            self._quarantined.popitem(last=False)
        return ack, upload.redacted(), reason


def valid_upload(address: TopicAddress, payload: bytes) -> BiometricUpload | None:
    """The upload, when it keeps the contract and names the topic's gateway and unit; else None."""
    try:
        upload = BiometricUpload.from_json(payload)
    except ContractError:
        return None
    return upload if (upload.gateway_id, upload.unit) == (address.gateway, address.unit) else None


def withhold_template(payload: bytes) -> bytes:
    """A payload that failed validation, with any template value taken out before it is kept."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return _TEMPLATE_FIELD.sub(b'"template":"<withheld>"', payload)
    if isinstance(body, dict) and "template" in body:
        body["template"] = "<withheld>"
        return json.dumps(body).encode()
    return payload if b"template" not in payload else _TEMPLATE_FIELD.sub(b'"template":"<withheld>"', payload)
