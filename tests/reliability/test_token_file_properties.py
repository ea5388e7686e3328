"""Property tests over token files: whatever the bytes, never a 500, always a clear sentence,
and nothing half-written — a token row exists exactly when Apple holds our claim."""

from __future__ import annotations

import base64
import json
import string

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tokens.models import VppToken
from tokens.services import token_import

pytestmark = pytest.mark.django_db
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.builds(
    lambda sign, h, m, colon: f"{sign}{h:02d}{':' if colon else ''}{m:02d}",
    st.sampled_from("+-"),
    st.integers(0, 23),
    st.integers(0, 59),
    st.booleans(),
) | st.sampled_from(["Z", "", "+2400", "-9999", "+00:60"])
exp_dates = (
    st.builds(
        lambda y, mo, d, hh, mm, off: f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:00{off}",
        st.integers(1, 9999),
        st.integers(1, 13),
        st.integers(1, 31),
        st.integers(0, 24),
        st.integers(0, 59),
        offsets,
    )
    | st.text(max_size=40)
    | json_values
)
org_names = (
    st.text(max_size=300) | st.sampled_from(["Org\r\nBcc: x@y.z", "\x00", " "]) | json_values
)


def _b64(value) -> bytes:
    return base64.b64encode(json.dumps(value).encode())


garbage = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=string.printable, max_size=300).map(str.encode),
    json_values.map(_b64),
    st.integers(1, 30000).map(lambda n: base64.b64encode(b"[" * n)),
    st.integers(1, 30000).map(lambda n: base64.b64encode(b'{"a":' * n)),
)


def _assert_clear(error: ValidationError) -> None:
    message = " ".join(error.messages)
    assert message and len(message) < 600 and "Traceback" not in message


@FAST
@given(data=garbage)
@example(data=base64.b64encode(b"[" * 20000))  # the defect that was found: a 500
def test_garbage_is_refused_with_a_sentence_and_nothing_written(apple, data):
    with pytest.raises(ValidationError) as refused:
        token_import(file_bytes=data, apple_id="books@school.example", account_type="education")
    _assert_clear(refused.value)
    assert not VppToken.objects.exists()
    assert all(loc.mdm_info is None for loc in apple.state.locations.values())


@FAST
@given(exp_date=exp_dates, org_name=org_names)
@example(exp_date="9999-12-31T23:59:59-2359", org_name="Org")  # a 500 after Apple's claim
@example(exp_date="2030-01-01T00:00:00+0000", org_name="Org\r\nBcc: x@y.z")
def test_a_real_token_with_any_expiry_or_org_is_all_or_nothing(
    apple, token_file, exp_date, org_name
):
    content = token_file()
    outer = json.loads(base64.b64decode(content))
    outer.update(expDate=exp_date, orgName=org_name)
    data = _b64(outer)
    try:
        token = token_import(
            file_bytes=data, apple_id="books@school.example", account_type="education"
        )
    except ValidationError as error:
        _assert_clear(error)
        token = None
    claimed = apple.location(content.decode()).mdm_info is not None
    assert VppToken.objects.exists() == claimed == (token is not None)
    if token is not None:
        assert "\n" not in token.org_name and "\x00" not in token.org_name
        token.delete()
        apple.release_claim(content.decode())


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=garbage)
def test_the_upload_page_never_answers_500(portal_admin_client, apple, data):
    response = portal_admin_client.post(
        reverse("admin:tokens_vpptoken_add"),
        {
            "token_file": SimpleUploadedFile("t.vpptoken", data),
            "apple_id": "books@school.example",
            "account_type": "education",
            "name": "",
        },
    )
    assert response.status_code == 200
    assert "errornote" in response.content.decode() or "errorlist" in response.content.decode()
    assert not VppToken.objects.exists()
