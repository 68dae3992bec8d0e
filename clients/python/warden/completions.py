"""Recording how a call that has run ended: a transient failure is retried a few times (the tool's result
must not be lost for a blip), a lasting one goes to the client's ``on_error`` instead of failing the
caller, whose tool has already run."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from .errors import WardenError
from .http_transport import HttpTransport
from .wire import quote_segment

#: Failures worth recording a completion again for; anything else will not change by retrying.
_TRANSIENT = {"STORE_UNAVAILABLE", "SHUTTING_DOWN", "RATE_LIMITED", "WARDEN_UNREACHABLE"}
_RETRY_DELAYS_S = (0.1, 0.4, 1.6)


def record_completion(
    http: HttpTransport,
    call_id: str,
    outcome: Mapping[str, Any],
    on_error: Callable[[WardenError], None],
) -> None:
    """``POST /v1/calls/:id/complete``, retried while the failure is transient; a lasting one is reported."""
    last: WardenError | None = None
    for attempt, delay in enumerate((0.0, *_RETRY_DELAYS_S)):
        time.sleep(delay)
        try:
            http.request("POST", f"/v1/calls/{quote_segment(call_id)}/complete", dict(outcome))
            return
        except WardenError as err:
            if attempt > 0 and err.code == "CALL_ALREADY_COMPLETED":
                return  # an earlier try landed after all
            last = err
            if err.code not in _TRANSIENT:
                break
    assert last is not None
    on_error(
        WardenError(
            "INTERNAL",
            f"the result of call {call_id} could not be recorded: {last.message}",
            {"callId": call_id, "cause": last.code},
        )
    )
