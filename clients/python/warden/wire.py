"""Python values to the API's JSON shapes: snake_case usage and estimates to the wire's camelCase, and
arguments and results to JSON (a call's arguments must be JSON; a result that is not is recorded as text)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from datetime import datetime
from typing import Any, Mapping, TypedDict

from .errors import ConfigInvalid


class Usage(TypedDict, total=False):
    """What a call consumed, recorded with its result (settles the budgets it reserved)."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    tool_calls: int
    compute_seconds: float
    cost_usd: float


class Estimate(TypedDict, total=False):
    """What a call may consume at most, reserved in every budget that applies before it runs."""

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


_CAMEL = re.compile(r"_([a-z])")

#: The names the API accepts in usage and estimates, snake_case as Python writes them.
_USAGE_FIELDS = {
    "model",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "tool_calls",
    "compute_seconds",
    "cost_usd",
}
_ESTIMATE_FIELDS = {"model", "input_tokens", "output_tokens", "cost_usd"}


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def wire_counts(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A usage or an estimate in the wire's names; an unknown field or a non-number is refused here."""
    allowed = _USAGE_FIELDS if what == "usage" else _ESTIMATE_FIELDS
    if not isinstance(value, Mapping):
        raise ConfigInvalid("CONFIG_INVALID", f"{what} must be a dict, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for name, v in value.items():
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        if snake not in allowed:
            raise ConfigInvalid(
                "CONFIG_INVALID", f"{what} has no field {name!r}; use {', '.join(sorted(allowed))}"
            )
        if snake == "model":
            if not isinstance(v, str) or v == "":
                raise ConfigInvalid("CONFIG_INVALID", f"{what}.model must be a non-empty string")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigInvalid("CONFIG_INVALID", f"{what}.{name} must be a number >= 0, got {v!r}")
        out[_camel(snake)] = v
    return out


def json_args(args: Any, tool: str) -> dict[str, Any]:
    """A call's arguments as a JSON object, or a clear error: the policy reasons about them, so they are
    never silently turned into text."""
    if not isinstance(args, Mapping):
        raise ConfigInvalid("CONFIG_INVALID", f"the arguments of {tool} must be a dict, got {type(args).__name__}")
    try:
        return json.loads(json.dumps(args, allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as err:
        raise ConfigInvalid(
            "CONFIG_INVALID",
            f"the arguments of {tool} are not JSON ({err}); pass JSON values, or map them with "
            "guard(..., args=lambda ...: {...})",
        ) from None


def json_result(value: Any) -> Any:
    """A result as JSON to record: itself when it is JSON, else its ``repr`` (the call has run; its
    record must not fail for the result's type)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return repr(value)


def outcome_body(
    result: Any, error: str | BaseException | None, usage: Usage | None, duration_ms: float | None
) -> dict[str, Any]:
    """The body of POST /v1/calls/:id/complete: ok with its result, or error with its text."""
    body: dict[str, Any] = {"status": "ok" if error is None else "error"}
    if error is not None:
        body["error"] = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if result is not None:
        body["result"] = json_result(result)
    if duration_ms is not None:
        body["durationMs"] = max(0.0, float(duration_ms))
    if usage is not None:
        body["usage"] = wire_counts(usage, "usage")
    return body


def positive_seconds(value: object, name: str, *, zero: bool = False) -> float:
    """``value`` as seconds, or ConfigInvalid naming ``name`` (zero only where ``zero`` allows it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero):
        raise ConfigInvalid("CONFIG_INVALID", f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def seconds_until(iso: str, default: float) -> float:
    """Seconds from now until an ISO 8601 time (``default`` when it cannot be read)."""
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - time.time()
    except ValueError:
        return default


def quote_segment(value: str) -> str:
    """``value`` as one path segment of a URL."""
    return urllib.parse.quote(value, safe="")
