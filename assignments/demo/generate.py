"""Write the demo directory CSVs shipped beside this file. Run by hand, never at runtime:

    python -m assignments.demo.generate

The output is deterministic (fixed seed), so regenerating changes nothing unless this file does.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOMAIN = "springfield.example"
MANAGED_DOMAIN = "appleid.springfield.example"
FIRST = [
    "Ada",
    "Alan",
    "Amara",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Dara",
    "Diego",
    "Elif",
    "Emma",
    "Farah",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isaac",
    "Jade",
    "Jonas",
    "Kai",
    "Kemi",
    "Lena",
    "Liam",
    "Maya",
    "Milo",
    "Nadia",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Sofia",
    "Theo",
    "Uma",
    "Vera",
    "Wen",
    "Yara",
    "Zane",
]
LAST = [
    "Abbott",
    "Baker",
    "Castro",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Meyer",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Santos",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmer",
]
GRADES = ("Grade 9", "Grade 10", "Grade 11", "Grade 12")
MODELS = ("iPad (10th generation)", "iPad Air (5th generation)", "iPad mini (6th generation)")


def generate(seed: int = 2024) -> dict[str, list[dict[str, str]]]:
    """People, group memberships and devices of a small school, as CSV rows."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    people, groups, devices = [], [], []
    members: dict[str, list[str]] = {g: [] for g in GRADES}
    extra = {
        "Teachers": [],
        "Library staff": [],
        "Science club": [],
        "Reading club": [],
        "Robotics club": [],
        "Drama club": [],
        "Special educational needs": [],
        "New arrivals": [],
    }
    seen: set[str] = set()
    for number in range(1, 301):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}".lower()
        while local in seen:
            local = f"{first}.{last}{rng.randint(2, 99)}".lower()
        seen.add(local)
        teacher = number <= 30
        managed = f"{local}@{MANAGED_DOMAIN}" if rng.random() < 0.4 else ""
        people.append(
            {
                "email": f"{local}@{DOMAIN}",
                "display_name": f"{first} {last}",
                "external_id": f"{'T' if teacher else 'S'}{number:05d}",
                "managed_apple_id": managed,
                "active": "false" if number % 97 == 0 else "true",
            }
        )
        email = f"{local}@{DOMAIN}"
        if teacher:
            extra["Teachers"].append(email)
            if number <= 4:
                extra["Library staff"].append(email)
        else:
            members[GRADES[number % len(GRADES)]].append(email)
            if number > 280:
                extra["New arrivals"].append(email)
        for club in ("Science club", "Reading club", "Robotics club", "Drama club"):
            if not teacher and rng.random() < 0.08:
                extra[club].append(email)
        if not teacher and rng.random() < 0.04:
            extra["Special educational needs"].append(email)
        for _ in range(2 if teacher else 1):
            if rng.random() < 0.9:
                devices.append(
                    {
                        "serial_number": f"DMQ{rng.randrange(16**7):07X}",
                        "name": f"{first}'s iPad",
                        "model": rng.choice(MODELS),
                        "os_version": rng.choice(("17.5", "17.6", "18.1")),
                        "owner_email": email,
                        "has_books_app": "false" if rng.random() < 0.1 else "true",
                    }
                )
    for serial in range(1, 11):  # shared cart devices with no owner
        devices.append(
            {
                "serial_number": f"CART{serial:04d}",
                "name": f"Library cart iPad {serial}",
                "model": MODELS[0],
                "os_version": "18.1",
                "owner_email": "",
                "has_books_app": "true",
            }
        )
    descriptions = {g: f"Students in {g.lower()}" for g in GRADES}
    descriptions |= {"Teachers": "All teaching staff", "Library staff": "Librarians"}
    for index, (name, emails) in enumerate({**members, **extra}.items(), start=1):
        external_id = f"G{index:03d}"
        description = descriptions.get(name, "")
        if name == "Drama club":
            emails = []  # a group with no members yet
        for position, email in enumerate(emails or [""]):
            groups.append(
                {
                    "group_name": name,
                    "description": description if position == 0 else "",
                    "group_external_id": external_id,
                    "member_email": email,
                }
            )
    return {"people.csv": people, "groups.csv": groups, "devices.csv": devices}


def write(folder: Path = HERE) -> None:
    for name, rows in generate().items():
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    write()
