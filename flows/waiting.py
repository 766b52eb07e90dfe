"""Waiting for a person's answer without holding a process: the three decision flows (alert-approval,
withdrawal-decision, reinstate) suspend their run with the form (`suspend_flow_run`), so the run's
process ends and nothing is held while it waits, however long. The answer reschedules the run,
which starts again from the top: everything before the wait is read again from the register, and
the wait returns the answer given.

Each wait in a run has its own key (1, 2, ... one more for each answer that was not recorded; the
form is saved in Prefect as `suspended-1-schema`, its answer as `suspended-1-response`), so that a
run started again finds the answer to its latest wait and asks afresh after it.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field, create_model

F = TypeVar("F", bound=RunInput)
NO_APPROVER = "(nobody is listed: ask IT to list the approvers in settings.yaml)"


def first_wait() -> int:
    """The number of this run's latest wait: 1 on its first start, and on a start after an answer,
    the wait that answer was given to."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(flow_run.id)))
    return max(len(run.empirical_policy.pause_keys or ()), 1)


def wait_for_answer(form: type[F], description: str, number: int) -> F | None:
    """Suspend the run with the form until answered (no time limit: a waiting alert simply waits, and
    is escalated by approval-escalation). On the run's next start the same call returns the answer.
    None if the answer was lost (deleted before it was recorded): the caller asks again."""
    from prefect.flow_runs import suspend_flow_run

    try:
        return suspend_flow_run(wait_for_input=form.with_initial_data(description=description),
                                key=str(number), timeout=None)
    except (KeyError, ValueError):  # the answer's record is gone (see forget_approval_input)
        return None


def choice(options: list[str], fallback: str) -> Any:
    """A pick-list type of these options (Prefect's form shows it as a drop-down list)."""
    return Literal[tuple(options or [fallback])]  # type: ignore[valid-type]


def approver_field(names: list[str], what: str) -> tuple[Any, Any]:
    return choice(names, NO_APPROVER), Field(description=f"Choose your name from the list of approvers: "
                                                         f"{what}")


def form_model(name: str, base: type[RunInput], **fields: tuple[Any, Any]) -> type[RunInput]:
    """A form class with fields made from the configuration (the approvers, the form's providers)."""
    return create_model(name, __base__=base, **fields)  # type: ignore[call-overload, no-any-return]
