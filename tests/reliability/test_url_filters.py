"""Only declared filters may come from the URL: a regex (or any undeclared lookup) on any admin
list is refused before it reaches the database; declared filters keep working. NUL in the query
string never gives a 500."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.filters import EmptyFieldListFilter, SimpleListFilter
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

pytestmark = pytest.mark.django_db
PROBE = "zzprobe(a+)+$"


def _changelists():
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        yield pytest.param(model, model_admin, url, id=model._meta.label)


def _hostile_lookups(model) -> list[str]:
    lookups = ["x__iregex", "pk__regex"]
    for field in model._meta.get_fields():
        if not getattr(field, "concrete", False) or field.many_to_many:
            continue
        lookups += [f"{field.name}__regex", f"{field.name}__iregex", f"{field.name}__contains"]
        if field.is_relation and field.related_model is not None:
            lookups.append(f"{field.name}__{field.related_model._meta.pk.name}__regex")
    return lookups


def _refused(response) -> bool:
    if response.status_code == 400:
        return True
    return response.status_code == 302 and "e=1" in response["Location"]


@pytest.mark.parametrize(("model", "model_admin", "url"), list(_changelists()))
def test_undeclared_lookups_are_refused_on_every_changelist(admin_client, model, model_admin, url):
    for lookup in _hostile_lookups(model):
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url, {lookup: PROBE})
        assert _refused(response), f"{url}?{lookup}= answered {response.status_code}"
        assert not any("zzprobe" in q["sql"] for q in queries.captured_queries), lookup


@pytest.mark.parametrize(("model", "model_admin", "url"), list(_changelists()))
def test_declared_filters_still_work(admin_client, model, model_admin, url):
    for item in model_admin.list_filter:
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            params = {item.parameter_name: "1"}
        elif isinstance(item, list | tuple) and item[1] is EmptyFieldListFilter:
            params = {f"{item[0]}__isempty": "1"}
        else:
            field = item[0] if isinstance(item, list | tuple) else item
            params = {f"{field}__isnull": "False"}
        response = admin_client.get(url, params)
        assert response.status_code in (200, 302), (url, params, response.status_code)
        if response.status_code == 302:
            assert "e=1" not in response["Location"], (url, params)
    if model_admin.date_hierarchy:
        assert (
            admin_client.get(url, {f"{model_admin.date_hierarchy}__year": "2026"}).status_code
            == 200
        )


@pytest.mark.parametrize(("model", "model_admin", "url"), list(_changelists()))
def test_nul_in_search_never_gives_a_500(admin_client, model, model_admin, url):
    assert admin_client.get(f"{url}?q=%00abc%00").status_code in (200, 302)


def test_nul_in_the_autocomplete_gives_an_empty_answer_not_a_500(admin_client):
    for model, model_admin in admin.site._registry.items():
        for field_name in getattr(model_admin, "autocomplete_fields", ()):
            field = model._meta.get_field(field_name)
            response = admin_client.get(
                reverse("admin:autocomplete"),
                {
                    "term": "\x00",
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field.name,
                },
            )
            assert response.status_code in (200, 403), (model, field_name)
    # The raw query string too, as a browser sends it.
    response = admin_client.get(
        reverse("admin:autocomplete") + "?term=%00&app_label=auth&model_name=user&field_name=x"
    )
    assert response.status_code in (200, 403, 404)
