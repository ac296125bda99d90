"""Flow runs whose machine died are marked Crashed, so the UI's Retry (or the next night) can take them.

A worker killed with its flow run (the machine lost, the OOM killer, a spot
instance reclaimed) leaves the run Running in Prefect forever: nothing is left
to report its end, and a run that is not in a terminal state cannot be retried
(`prefect flow-run retry` refuses it). The deployment's `concurrency_limit: 1`
also keeps the next nightly run waiting behind it. Prefect's answer is
heartbeats: each deployment flow run emits one every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds, and this automation marks a run
Crashed when none (and no other event of that run) arrived for `silent_for_s`.
Create it once per Prefect server, after the work pool:

    python -m deployments.zombies            # docs/deployments.md
"""
from __future__ import annotations

import argparse
from datetime import timedelta

AUTOMATION_NAME = "w2w: crash silent flow runs"
HEARTBEAT_S = 30  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY to set on the workers (Prefect's minimum)
MISSED_HEARTBEATS = 3  # heartbeats a run may miss before it counts as dead


def zombie_automation(silent_for_s: int = MISSED_HEARTBEATS * HEARTBEAT_S):
    """The automation: after a run's heartbeat, expect another event of that run within `silent_for_s`."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=AUTOMATION_NAME,
        trigger=EventTrigger(after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
                             match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                             for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                             within=timedelta(seconds=silent_for_s)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {silent_for_s} s: its worker died (retry it)")],
    )


def ensure_zombie_automation(silent_for_s: int = MISSED_HEARTBEATS * HEARTBEAT_S) -> str:
    """Create the automation unless one of its name exists; its id."""
    from prefect.automations import Automation

    try:
        return str(Automation.read(name=AUTOMATION_NAME).id)
    except ValueError:
        return str(zombie_automation(silent_for_s).create().id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--silent-for-s", type=int, default=MISSED_HEARTBEATS * HEARTBEAT_S,
                        help="seconds without a heartbeat before a run is marked Crashed")
    print(ensure_zombie_automation(parser.parse_args().silent_for_s))


if __name__ == "__main__":
    main()
