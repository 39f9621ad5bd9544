"""The field trial (kinerja/trial): three offices, two replicas, faults on a schedule; the report.

    .venv/bin/python bench/trial.py [--short] [--workdir DIR]

Same as `kinerja trial`; exits non-zero when the numbers do not add up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from kinerja.trial.run import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="a dozen employees per office (the CI version)")
    parser.add_argument("--workdir", type=Path, help="where the trial's temporary files go")
    args = parser.parse_args()
    sys.exit(main(short=args.short, workdir=args.workdir))
