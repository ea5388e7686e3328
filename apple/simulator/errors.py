"""Apple's v2 error numbers, their HTTP statuses and messages, as the simulator returns them."""

from __future__ import annotations

from typing import Any

# errorNumber -> (HTTP status, errorMessage). Messages paraphrase Apple's service-config list.
ERRORS: dict[int, tuple[int, str]] = {
    9601: (401, "Login required."),
    9602: (400, "Invalid argument."),
    9603: (500, "Internal error. Try again later."),
    9609: (400, "Registered user not found."),
    9621: (
        401,
        "The token has expired. Get a new one from school.apple.com or business.apple.com.",
    ),
    9622: (401, "Invalid authentication token."),
    9625: (401, "The server has revoked the token."),
    9634: (410, "The service is no longer available."),
    9646: (429, "Too many requests for this organization. Back off and retry later."),
    9650: (400, "Page index out of range."),
    9700: (400, "Too many assets in the request."),
    9701: (400, "Too many clientUserIds in the request."),
    9702: (400, "Too many serialNumbers in the request."),
    9703: (400, "Duplicate assets in the request."),
    9704: (400, "Duplicate clientUserIds in the request."),
    9705: (400, "Duplicate serialNumbers in the request."),
    9706: (400, "The asset is not revocable."),
    9707: (400, "The asset is not device-assignable."),
    9708: (400, "Event not found."),
    9709: (400, "Not enough licenses."),
    9710: (400, "The notification URL and auth token must be given together."),
    9711: (400, "The notification URL or auth token is too long."),
    9712: (400, "The notification URL must be a valid HTTPS URL."),
    9713: (400, "The MDM metadata is too long."),
    9714: (400, "Too many users in the request."),
    9715: (400, "Duplicate users in the request."),
    9716: (400, "A registered user already exists with this clientUserId."),
    9717: (400, "Invalid email address."),
    9718: (400, "The request has no assets."),
    9719: (400, "The request has no clientUserIds or serialNumbers."),
    9720: (400, "The request has no users."),
    9721: (400, "Invalid versionId."),
    9722: (401, "The Authorization header must be of the form 'Bearer {sToken}'."),
    9723: (400, "mdmInfo needs id, name and metadata."),
    9724: (400, "The MDM id is too long."),
    9725: (400, "The MDM name is too long."),
    9726: (405, "Unsupported HTTP method."),
    9727: (415, "Unsupported Content-Type; use application/json."),
    9728: (400, "The notification URL is not reachable."),
}


class ApiError(Exception):
    """A synchronous v2 error: rendered as Apple's ErrorResponse with the matching HTTP status."""

    def __init__(
        self,
        number: int,
        message: str | None = None,
        *,
        info: dict[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        status, default = ERRORS.get(number, (400, "Error."))
        self.number = number
        self.message = message or default
        self.info = info
        self.http_status = http_status or status
        super().__init__(f"{number}: {self.message}")

    def body(self) -> dict[str, Any]:
        """The ErrorResponse JSON object."""
        return error_body(self.number, self.message, self.info)


def error_body(number: int, message: str | None = None, info: dict[str, Any] | None = None) -> dict:
    """Apple's ErrorResponse shape: errorNumber, errorMessage and, when known, errorInfo."""
    body: dict[str, Any] = {
        "errorNumber": number,
        "errorMessage": message or ERRORS.get(number, (400, "Error."))[1],
    }
    if info:
        body["errorInfo"] = info
    return body


def error_codes() -> list[dict[str, Any]]:
    """The `errorCodes` list of service config."""
    return [{"errorNumber": n, "errorMessage": m} for n, (_s, m) in sorted(ERRORS.items())]
