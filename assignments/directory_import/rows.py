"""The one CSV row reader: streams a file line by line, in constant memory, and reports every
problem of every row (bad bytes, control characters, too many values, bad fields) by line."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

SHOWN_ERRORS = 1000  # errors kept per file; beyond that they are only counted
MAX_FIELD = 10_000  # characters in one value; no column of ours is near this long

# C0 and C1 control characters and DEL; a tab is allowed (stripped like spaces).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_BOOLEANS = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class FileResult:
    name: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    members_added: int = 0
    members_removed: int = 0
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    more_errors: int = 0  # problems found beyond the SHOWN_ERRORS kept
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.more_errors

    def error(self, line: int, message: str) -> None:
        if len(self.errors) < SHOWN_ERRORS:
            # A message may quote the file; control bytes in it would break the page or the
            # database (PostgreSQL stores no NUL), so they are shown as "?".
            self.errors.append(RowError(line, _CONTROL.sub("?", message)))
        else:
            self.more_errors += 1

    def summary(self) -> str:
        if self.errors:
            count = self.error_count
            return f"{self.name}: {count:,} problem{'s' if count != 1 else ''}."
        text = (
            f"{self.name}: {self.created:,} created, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged"
        )
        if self.members_added or self.members_removed:
            text += (
                f"; {self.members_added:,} memberships added, "
                f"{self.members_removed:,} removed (removed members keep their licenses)"
            )
        return text + "."


@dataclass
class Row:
    """One data row: its first line, {column: stripped value}, and what is wrong with it."""

    line: int
    values: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def text(self, column: str, limit: int) -> str:
        value = self.values.get(column, "")
        if len(value) > limit:
            self.problems.append(f"{column} is longer than {limit} characters.")
            return value[:limit]
        return value

    def email(self, column: str, *, required: bool = False) -> str:
        value = self.values.get(column, "").lower()
        if not value:
            if required:
                self.problems.append(f"{column} is required.")
            return ""
        try:
            validate_email(value)
        except ValidationError:
            self.problems.append(f"{column} “{value[:200]}” is not a valid email address.")
            return ""
        return value

    def boolean(self, column: str) -> bool:
        value = self.values.get(column, "")
        if not value:
            return True
        try:
            return _BOOLEANS[value.lower()]
        except KeyError:
            self.problems.append(f"{column} “{value[:50]}” is not true or false (or yes/no, 1/0).")
            return True


class Rows:
    """A CSV file's data rows, read as they are iterated; file-level problems go to `result`."""

    def __init__(self, source: bytes | BinaryIO, result: FileResult, columns) -> None:
        self.result = result
        self.header: list[str] = []
        self.columns = columns
        self.bytes_read = 0
        self._lines = _byte_lines(source)
        self._bad_lines: list[int] = []
        self._reader = csv.reader(self._decoded(), strict=True)

    def has(self, column: str) -> bool:
        return column in self.header

    def _decoded(self) -> Iterator[str]:
        for number, raw in enumerate(self._lines, start=1):
            self.bytes_read += len(raw)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self._bad_lines.append(number)
                yield raw.decode("utf-8", errors="replace")

    def _next(self) -> tuple[int, list[str]] | None:
        """The next record and its first line; None at the end. Unreadable lines are reported."""
        while True:
            start = self._reader.line_num + 1
            try:
                values = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as error:
                self.result.error(
                    self._reader.line_num, f"this line cannot be read as CSV ({error})."
                )
                continue
            for line in self._bad_lines:
                self.result.error(
                    line, "this line is not UTF-8 text. Save the file as “CSV UTF-8”."
                )
            bad, self._bad_lines = bool(self._bad_lines), []
            if not bad:
                return start, values

    def __iter__(self) -> Iterator[Row]:
        first = self._next()
        if self.result.errors:
            return  # the header line itself could not be read: the rest would mean nothing
        if first is None or not any(v.strip() for v in first[1]):
            if not self.result.errors:
                self.result.error(1, "the file is empty; the first line must name the columns.")
            return
        self.header = [column.strip().lower() for column in first[1]]
        if not self._header_ok():
            return
        known = {column for column, _, _ in self.columns}
        width = len(self.header)
        while (record := self._next()) is not None:
            line, values = record
            if not any(value.strip() for value in values):
                continue
            row = Row(line, {})
            if len(values) > width:
                row.problems.append(f"{len(values)} values but the header names {width} columns.")
            for column, value in zip(self.header, values, strict=False):
                if column not in known:
                    continue
                if match := _CONTROL.search(value):
                    row.problems.append(f"{column} contains {_describe(match.group())}.")
                    value = _CONTROL.sub(" ", value)
                if len(value) > MAX_FIELD:
                    row.problems.append(f"{column} is longer than {MAX_FIELD:,} characters.")
                    value = value[:MAX_FIELD]
                row.values[column] = value.strip()
            self.result.rows += 1
            yield row

    def _header_ok(self) -> bool:
        for column in sorted({c for c in self.header if self.header.count(c) > 1}):
            self.result.error(1, f"column “{column[:100]}” appears twice in the header.")
        for column, required, _ in self.columns:
            if required and column not in self.header:
                found = ", ".join(self.header)[:300] or "nothing"
                self.result.error(
                    1,
                    f"missing column “{column}”. The first line must name the columns; "
                    f"found: {found}.",
                )
        known = {column for column, _, _ in self.columns}
        if unknown := [c for c in self.header if c and c not in known]:
            listed = ", ".join(_CONTROL.sub("?", c)[:50] for c in unknown[:20])
            self.result.warnings.append(f"Ignored unknown column(s): {listed}.")
        return not self.result.errors


def report(result: FileResult, row: Row) -> bool:
    """Record the row's problems (every one of them); True when the row is good."""
    for problem in row.problems:
        result.error(row.line, problem)
    return not row.problems


def _describe(char: str) -> str:
    if char == "\x00":
        return "a NUL byte (a binary file, or one saved in UTF-16?)"
    if char in "\r\n":
        return "a line break inside a value"
    return f"the control character U+{ord(char):04X}"


def _byte_lines(source: bytes | BinaryIO) -> Iterable[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(source)
    return source  # a binary file iterates line by line, reading a buffer at a time


def chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Repeats:
    """Finds keys that appear twice in a file: 16 bytes a row (a digest and a line), not the key."""

    def __init__(self) -> None:
        self._digests = array("q")
        self._lines = array("q")

    def add(self, key: str, line: int) -> None:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        self._digests.append(int.from_bytes(digest, "big", signed=True))
        self._lines.append(line)

    def found(self) -> Iterator[tuple[int, int]]:
        """(line, line where the key first appeared) for every repeat, in line order.

        Digests are compared a slice of their values at a time (a set of ~100,000 at most), so
        a million-row file needs a few MB more, not a copy of every digest.
        """
        digests, lines = self._digests, self._lines
        parts = max(1, len(digests) // 100_000)
        repeated: set[int] = set()
        for part in range(parts):
            seen: set[int] = set()
            for digest in digests:
                if digest % parts == part:
                    if digest in seen:
                        repeated.add(digest)
                    else:
                        seen.add(digest)
        first: dict[int, int] = {}
        for digest, line in zip(digests, lines, strict=True):
            if digest in repeated:
                if digest in first:
                    yield line, first[digest]
                else:
                    first[digest] = line
