"""Staff status follows the role, so a person given a role can sign in at once."""

from __future__ import annotations


def on_groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """After any change of group membership, from either side, bring is_staff up to date."""
    from staff.services import staff_flag_sync

    if reverse and action == "pre_clear":
        # group.user_set.clear() does not say who left: remember them before they go.
        instance._staff_leaving = list(instance.user_set.values_list("pk", flat=True))
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        staff_flag_sync(user_ids=[instance.pk])
    elif action == "post_clear":
        staff_flag_sync(user_ids=getattr(instance, "_staff_leaving", []))
    elif pk_set:
        staff_flag_sync(user_ids=list(pk_set))
