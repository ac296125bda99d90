"""The directions step's log line is short and readable: no raw dict, no 16-digit floats."""
import re

from tasks.directions import directions_line


def test_the_directions_line_reads_as_a_sentence():
    summary = {"attributes": ["beard", "glasses"], "m": 100, "method": "lstsq", "debias": ["male"],
               "debias_mode": "project", "unit": {"beard": 0.12345678901234567, "glasses": 0.2},
               "max_abs_cosine_between": 0.31415926535897931}
    line = directions_line(summary)
    assert line == ("directions: 2 attributes (beard, glasses) in 100 components by lstsq, debiased against male; "
                    "largest |cosine| between two: 0.31")
    assert "{" not in line and not re.search(r"\d\.\d{5,}", line)
