"""The field trial (`kinerja trial`): see kinerja/trial/run.py and docs/trial.md.

It drives real processes with the test suite's own process helpers (tests/gateway_processes.py), so
it runs from a checkout of the repository (an editable install): the checkout's root goes on the path.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]

if not (CHECKOUT / "tests" / "gateway_processes.py").is_file():
    raise ImportError(
        f"the field trial runs from a checkout of the Kinerja repository (it reuses tests/); {CHECKOUT} is not one"
    )
if str(CHECKOUT) not in sys.path:
    sys.path.append(str(CHECKOUT))
