"""`Authorization: Bearer <key>` (or `Api-Key <key>`) for scripts; sessions for signed-in users."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api.models import ApiKey
from api.scopes import scope_permissions
from api.services import api_key_touch, key_hash

KEYWORDS = ("bearer", "api-key")


class KeyPrincipal(AnonymousUser):
    """request.user for a key: authenticated, holding exactly its scope's permissions.

    It is no portal account, so services record no user for it (pk stays None).
    """

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.username = f"api-key:{api_key.prefix}"

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_authenticated(self) -> bool:
        return True

    def has_perm(self, perm, obj=None) -> bool:
        return perm in scope_permissions(self.api_key.scope)

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(perm) for perm in perm_list)

    def get_all_permissions(self, obj=None) -> set[str]:
        return set(scope_permissions(self.api_key.scope))

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the key as “Authorization: Bearer <key>”, with no spaces in the key."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        api_key = ApiKey.objects.filter(key_hash=key_hash(raw)).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key was revoked.")
        api_key_touch(api_key=api_key)
        return KeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key a portal admin made (Admin → API keys).",
        }
