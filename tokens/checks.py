"""System checks: a bad VPP_TOKEN_KEY is reported at start-up with how to fix it."""

from __future__ import annotations

from django.core.checks import Error, register

from tokens.crypto import key_problem

GENERATE = (
    'Generate one with `python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"` and set VPP_TOKEN_KEY (keep it: stored tokens '
    "cannot be read without it). To rotate, list the new key first, comma-separated."
)


@register()
def token_key_check(app_configs, **kwargs) -> list[Error]:
    """VPP_TOKEN_KEY must hold one or more Fernet keys."""
    problem = key_problem()
    if problem is None:
        return []
    return [Error(problem, hint=GENERATE, id="tokens.E001")]


def token_key_health() -> tuple[bool, str]:
    """/healthz's token_key part: can stored tokens be read and new ones written."""
    problem = key_problem()
    return (False, problem) if problem else (True, "usable")
