from __future__ import annotations

from django.apps import AppConfig

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = "Tokens"
    # Which of this app's permissions each role gets; see config/roles.py.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: [
            "add_vpptoken",
            "change_vpptoken",
            "delete_vpptoken",
            "view_vpptoken",
        ],
        OPERATORS: ["view_vpptoken"],
        LICENSE_VIEWERS: ["view_vpptoken"],
    }

    def ready(self) -> None:
        from config.health import health_check_register
        from tokens import checks

        health_check_register(name="token_key", check=checks.token_key_health)
