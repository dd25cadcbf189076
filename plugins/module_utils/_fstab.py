# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Reading and rewriting /etc/fstab for one mount point.

Every function is pure: it takes the file's text and returns new text. The rule is that the
mount point ends with exactly one active line and every other line, comments and blank lines
included, stays byte-identical.
"""
from __future__ import annotations

import re
import typing as t

# Options that only mount(8), systemd or the boot sequence read. They live in fstab only:
# the kernel never shows them in the mount table.
FSTAB_ONLY_OPTIONS = frozenset({
    "_netdev", "nofail", "auto", "noauto", "user", "nouser", "users", "owner", "group",
    "defaults", "comment", "x-systemd", "x-initrd.mount", "bg", "fg", "retry",
})

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")
_NEEDS_ESCAPE = re.compile(r"[ \t\n\\]")
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


class FstabError(ValueError):
    """An fstab line or option cannot be handled; the message names the line and the fix."""


class FstabEntry(t.NamedTuple):
    """One active fstab line. `line_number` counts from 1; `raw` is the line as read."""

    line_number: int
    source: str
    mount_point: str
    fstype: str
    options: tuple[str, ...]
    dump: int
    passno: int
    raw: str


def unescape(field: str) -> str:
    """fstab writes a space in a path as \\040 (any byte as three octal digits)."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def escape(field: str) -> str:
    return _NEEDS_ESCAPE.sub(lambda match: f"\\{ord(match.group(0)):03o}", field)


def normalise_mount_point(path: str) -> str:
    """'/volumes/' and '/volumes' are one mount point."""
    stripped = path.rstrip("/")
    return stripped or "/"


def is_fstab_only(option: str) -> bool:
    name = option.split("=", 1)[0]
    return name in FSTAB_ONLY_OPTIONS or name.startswith(("x-systemd.", "x-", "comment"))


def kernel_options(options: t.Iterable[str]) -> list[str]:
    """The options that reach the mount itself: all but the fstab-only ones."""
    return [option for option in options if not is_fstab_only(option)]


def parse_line(line: str, line_number: int) -> FstabEntry | None:
    """The entry of one line, or None for a blank line or a comment.

    A '#' that starts a field begins a trailing comment. Lines with four fields (no dump
    and pass numbers) are valid: both default to 0.
    """
    fields = []
    for field in line.split():
        if field.startswith("#"):
            break
        fields.append(field)
    if not fields:
        return None
    if len(fields) < 3:
        raise FstabError(f"fstab line {line_number} {line.rstrip()!r} has {len(fields)} "
                         f"field(s); an entry needs at least source, mount point and type. "
                         f"Fix or remove that line.")
    options = tuple(fields[3].split(",")) if len(fields) > 3 else ("defaults",)
    numbers = []
    for index in (4, 5):
        value = fields[index] if len(fields) > index else "0"
        if not value.isdigit():
            raise FstabError(f"fstab line {line_number} {line.rstrip()!r}: field {index + 1} "
                             f"must be a number, got {value!r}. Fix that line.")
        numbers.append(int(value))
    return FstabEntry(line_number=line_number, source=unescape(fields[0]),
                      mount_point=normalise_mount_point(unescape(fields[1])),
                      fstype=fields[2], options=options, dump=numbers[0], passno=numbers[1],
                      raw=line)


def split_lines(text: str) -> list[str]:
    """The lines of an fstab with their endings, split at '\\n' only, as mount(8) reads it.

    str.splitlines() would also split at form feeds, U+2028 and other characters that can
    sit inside a comment, which would turn half a comment into a broken entry.
    """
    return _LINE.findall(text)


def _line_ending(text: str) -> str:
    """The ending of the file's last ended line: '\\r\\n' in a file written on Windows."""
    last = text.rfind("\n")
    return "\r\n" if last > 0 and text[last - 1] == "\r" else "\n"


def entries(text: str) -> list[FstabEntry]:
    """Every active entry of an fstab, in order."""
    found = []
    for number, line in enumerate(split_lines(text), start=1):
        entry = parse_line(line.rstrip("\r\n"), number)
        if entry is not None:
            found.append(entry)
    return found


def entries_for(text: str, mount_point: str) -> list[FstabEntry]:
    wanted = normalise_mount_point(mount_point)
    return [entry for entry in entries(text) if entry.mount_point == wanted]


def render_line(source: str, mount_point: str, fstype: str, options: t.Sequence[str],
                dump: int = 0, passno: int = 0) -> str:
    """One fstab line, without the newline."""
    for option in options:
        if not option or any(char in option for char in ", \t\n#"):
            raise FstabError(f"mount option {option!r} cannot be written to fstab: an option "
                             f"must be non-empty and hold no comma, blank or '#'.")
    return " ".join([escape(source), escape(mount_point), fstype,
                     ",".join(options) or "defaults", str(dump), str(passno)])


def same_entry(entry: FstabEntry, wanted_line: str) -> bool:
    """True when an existing entry says what the wanted line says: same source, mount point,
    type, dump and pass numbers, and the same options in any order."""
    wanted = parse_line(wanted_line, 0)
    if wanted is None:
        return False
    return (entry.source == wanted.source and entry.mount_point == wanted.mount_point
            and entry.fstype == wanted.fstype and sorted(entry.options) == sorted(wanted.options)
            and entry.dump == wanted.dump and entry.passno == wanted.passno)


def update(text: str, mount_point: str, wanted_line: str | None) -> str:
    """The fstab text with exactly one active line `wanted_line` for `mount_point` (or none
    when `wanted_line` is None). Every other line is kept byte for byte.

    An existing line that already says the same (options in another order, a trailing
    comment) is kept as it is. The wanted line takes the place of the first line for the
    mount point; further lines for it are removed; with no line yet it is appended.
    """
    current = entries_for(text, mount_point)
    if wanted_line is not None and len(current) == 1 and same_entry(current[0], wanted_line):
        return text
    drop = {entry.line_number for entry in current}
    replace_at = min(drop) if drop and wanted_line is not None else None

    lines = split_lines(text)
    out = []
    for number, line in enumerate(lines, start=1):
        if number == replace_at:
            ending = line[len(line.rstrip("\r\n")):] or _line_ending(text)
            out.append(wanted_line + ending)
        elif number not in drop:
            out.append(line)
    if wanted_line is not None and replace_at is None:
        ending = _line_ending(text)
        if out and not out[-1].endswith("\n"):
            out[-1] += ending
        out.append(wanted_line + ending)
    return "".join(out)
