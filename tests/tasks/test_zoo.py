"""The zoo's record: a run is written down before it trains, completed when it ends, marked interrupted if killed."""
from __future__ import annotations

import json

from tasks.config import FanOutConfig, ZooConfig
from tasks.zoo import RECORD, finish_zoo_run, start_zoo_run


def test_a_killed_run_keeps_its_command_and_the_next_run_marks_it_interrupted(tmp_path):
    config, fan_out = ZooConfig(), FanOutConfig(workers=2)
    first = start_zoo_run(str(tmp_path), config, fan_out, "w2w zoo build --n 3000", done_before=0)
    record = json.loads((tmp_path / RECORD).read_text())
    assert record["runs"][first]["status"] == "running" and record["runs"][first]["command"] == "w2w zoo build --n 3000"
    assert record["config"]["dataset"]["dtype"] == "float16"  # the recipe, recorded before any training

    second = start_zoo_run(str(tmp_path), config, fan_out, "w2w zoo build --n 3000", done_before=576)
    summary = {"trained_rows": list(range(576, 600)), "done": 600, "wall_seconds": 72.0, "seconds_training": 140.0}
    record = finish_zoo_run(str(tmp_path), second, summary)
    assert record["runs"][first]["status"].startswith("interrupted")
    done = record["runs"][second]
    assert (done["status"], done["done_before"], done["identities_trained"], done["identities_per_hour"]) == \
        ("finished", 576, 24, 1200.0)
