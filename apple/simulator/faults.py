"""Faults on demand for the simulator.

SPEC grammar (command line `--faults SPEC`, `Simulator.set_faults(SPEC)`, or
`POST /_sim/faults {"spec": SPEC}`)::

    SPEC   := RULE ("," RULE)*
    RULE   := KIND (":" PARAM)*
    KIND   := 429 | 500 | 503 | slow | garbage | expired | revoked | claimed
    PARAM  := p=FLOAT          fire with this probability (0..1) on each matching request
            | next=INT         fire on the next INT matching requests, then retire the rule
            | retry_after=SEC  send `Retry-After: SEC` (429 defaults to 1; 500/503 send none)
            | delay=SEC        how long `slow` waits before answering (default 1.0)
            | path=TEXT        only requests whose path contains TEXT (e.g. path=/assignments)
            | method=GET|POST  only requests with this method

A rule with neither `p` nor `next` fires on every matching request. Example::

    429:next=3:retry_after=2,500:p=0.1,slow:delay=1.5:p=0.2,garbage:next=1,claimed:next=1

Effects (only on `/mdm/v2/...` and `/lookup`; never on `/_sim/`, `/invite` or `/artwork`):

- `429`: HTTP 429, errorNumber 9646, `Retry-After` header; nothing is processed.
- `500`: HTTP 500, errorNumber 9603 (JSON), optional `Retry-After`; nothing is processed.
- `503`: HTTP 503 with an HTML body (a load balancer's answer), optional `Retry-After`.
- `slow`: sleep `delay` seconds, then carry on (other rules may still fire).
- `garbage`: the request IS processed, then the body is cut short so it is not valid JSON.
- `expired` / `revoked`: HTTP 401 with 9621 / 9625, as if the token had expired / been revoked.
- `claimed`: the request is processed but the response carries a foreign `mdmInfo`, as if
  another product had just claimed the token.

The first of 429/500/503/expired/revoked that fires ends the request; `slow`, `garbage` and
`claimed` combine with a normal answer.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("429", "500", "503", "slow", "garbage", "expired", "revoked", "claimed")
TERMINAL = frozenset({"429", "500", "503", "expired", "revoked"})

FOREIGN_MDM_INFO = {
    "id": "other-mdm-7f3c2a91",
    "name": "Other Device Management Product",
    "metadata": "claimed by another product",
}


class FaultSpecError(ValueError):
    """The SPEC text does not follow the grammar."""


@dataclass
class FaultRule:
    """One rule of a SPEC."""

    kind: str
    probability: float | None = None
    remaining: int | None = None
    retry_after: float | None = None
    delay: float = 1.0
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to the request at all."""
        if self.path and self.path not in path:
            return False
        return not (self.method and self.method != method)

    def as_dict(self) -> dict[str, Any]:
        """JSON form, for `GET /_sim/faults`."""
        out: dict[str, Any] = {"kind": self.kind}
        for key, value in (
            ("p", self.probability),
            ("next", self.remaining),
            ("retry_after", self.retry_after),
            ("path", self.path),
            ("method", self.method),
        ):
            if value is not None:
                out[key] = value
        if self.kind == "slow":
            out["delay"] = self.delay
        return out


@dataclass
class FaultDecision:
    """What the server must do to one request."""

    terminal: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    garbage: bool = False
    claimed: bool = False
    fired: list[str] = field(default_factory=list)


def _number(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise FaultSpecError(f"{key} needs a number, got {text!r}") from exc


def parse_rule(text: str) -> FaultRule:
    """Parse one RULE."""
    kind, *params = text.strip().split(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
    rule = FaultRule(kind=kind, retry_after=1.0 if kind == "429" else None)
    for param in params:
        key, sep, value = param.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if not sep:
            raise FaultSpecError(f"parameter {param!r} must look like key=value")
        if key == "p":
            rule.probability = _number(value, key)
            if not 0.0 <= rule.probability <= 1.0:
                raise FaultSpecError("p must be between 0 and 1")
        elif key == "next":
            rule.remaining = int(_number(value, key))
        elif key == "retry_after":
            rule.retry_after = _number(value, key)
        elif key == "delay":
            rule.delay = _number(value, key)
        elif key == "path":
            rule.path = value
        elif key == "method":
            rule.method = value.upper()
        else:
            raise FaultSpecError(f"unknown parameter {key!r}")
    return rule


def parse_spec(spec: str) -> list[FaultRule]:
    """Parse a SPEC into rules (an empty SPEC gives no rules)."""
    return [parse_rule(part) for part in spec.split(",") if part.strip()]


def rule_from_dict(data: dict[str, Any]) -> FaultRule:
    """Build a rule from its JSON form (the keys of the SPEC parameters)."""
    parts = [str(data["kind"])]
    parts += [f"{k}={v}" for k, v in data.items() if k != "kind" and v is not None]
    return parse_rule(":".join(parts))


class FaultSet:
    """The active rules; thread-safe."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = rng or random.Random()  # noqa: S311 - not crypto

    def set(self, rules: list[FaultRule], *, append: bool = False) -> None:
        """Replace (or extend) the active rules."""
        with self._lock:
            self._rules = [*self._rules, *rules] if append else list(rules)

    def clear(self) -> None:
        """Remove every rule."""
        self.set([])

    def rules(self) -> list[FaultRule]:
        """A copy of the active rules."""
        with self._lock:
            return list(self._rules)

    def decide(self, method: str, path: str) -> FaultDecision:
        """Roll the dice for one request and consume `next=N` budgets."""
        decision = FaultDecision()
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.kind in TERMINAL and decision.terminal:
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    if rule.probability is not None and self._rng.random() >= rule.probability:
                        continue
                    rule.remaining -= 1
                elif rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                decision.fired.append(rule.kind)
                if rule.kind in TERMINAL:
                    decision.terminal = rule.kind
                    decision.retry_after = rule.retry_after
                elif rule.kind == "slow":
                    decision.delay += rule.delay
                elif rule.kind == "garbage":
                    decision.garbage = True
                elif rule.kind == "claimed":
                    decision.claimed = True
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return decision
