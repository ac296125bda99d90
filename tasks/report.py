"""Prefect task: write the end-of-run report (tasks/reporting.py does the work)."""
from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.reporting import ReportConfig, write_report


@task(name="write-report", cache_policy=NO_CACHE)
def write_report_task(store_url: str, out: str, config: ReportConfig) -> dict:
    return write_report(store_url, Path(out), config)
