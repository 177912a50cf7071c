"""Mutated event files never crash the tool, lose a byte or change the store when they fail (issue #9)."""
from __future__ import annotations

from fuzz import fuzz

from helpers import run

SEED = 9
COUNT = 12  # mutants, each ingested as a JSON array and as JSON Lines: about 6 s on the 2-core machine


def test_mutated_event_files_are_rejected_per_event_or_fail_alone_without_changing_the_store(tmp_path):
    """No traceback; exit 0 with rejections per event or exit 1 with one error line; the count invariant; a
    failed file leaves the store and the held rejects as the valid file ingested first left them; reads answer."""
    problems = fuzz(COUNT, SEED, tmp_path, run)
    assert not problems, f"{len(problems)} problems (reproduce one with tests/fuzz.py --write N --seed {SEED} DIR):\n" \
        + "\n".join(problems[:25])
