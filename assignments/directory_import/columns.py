"""The documented columns of people.csv, groups.csv and devices.csv (page, command, README)."""

from __future__ import annotations

# (column, required, meaning): the one description the admin page, the command and README use.
PEOPLE_COLUMNS = (
    ("email", True, "The person's email address; the key: re-importing updates that person."),
    ("display_name", False, "Name shown in the portal."),
    ("external_id", False, "Id in your directory (SIS, HR, LDAP); unique when given."),
    (
        "managed_apple_id",
        False,
        "The person's Managed Apple Account, if any: they need no invitation from Apple.",
    ),
    (
        "active",
        False,
        "true/false (also yes/no, 1/0); blank means true. Inactive people get no "
        "new books and keep the ones they have.",
    ),
)
GROUP_COLUMNS = (
    ("group_name", True, "The group's name."),
    ("description", False, "Blank leaves the current description."),
    (
        "group_external_id",
        False,
        "Id in your directory; when given it is the key (so a group can be renamed), else the "
        "name is.",
    ),
    (
        "member_email",
        False,
        "One row per member, an email from people.csv or already in the portal. A group with no "
        "members is one row with this column blank. The file replaces each listed group's "
        "members; removed members keep the book licenses they were given.",
    ),
)
DEVICE_COLUMNS = (
    ("serial_number", True, "The device's serial number; the key."),
    ("name", False, "Device name."),
    ("model", False, "e.g. iPad (10th generation)."),
    ("os_version", False, "e.g. 17.5."),
    ("owner_email", False, "Email of the person who uses it (user affinity); blank for none."),
    (
        "has_books_app",
        False,
        "true/false: whether Apple's Books app is installed; blank means true.",
    ),
)
FILES = (
    ("people.csv", PEOPLE_COLUMNS),
    ("groups.csv", GROUP_COLUMNS),
    ("devices.csv", DEVICE_COLUMNS),
)


def columns_help() -> str:
    """The documented columns as plain text, for the command's help and the README."""
    lines = []
    for name, columns in FILES:
        lines.append(f"{name}:")
        for column, required, meaning in columns:
            lines.append(f"  {column}{' (required)' if required else ''}: {meaning}")
    return "\n".join(lines)
