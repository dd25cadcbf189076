# SPDX-License-Identifier: GPL-3.0-or-later
"""fstab: one line per mount point, every other line byte-identical."""
from __future__ import annotations

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _efs, _fstab

SOURCE = "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com:/"
WANTED = _fstab.render_line(SOURCE, "/volumes", "nfs4", _efs.merge_options(None))

HEAD = ("# /etc/fstab: static file system information.\n"
        "UUID=0a1b / ext4 errors=remount-ro 0 1\n"
        "\n")
TAIL = ("/dev/xvdb1 /data ext4 defaults,noatime 0 2   # scratch disk\n"
        "#10.0.9.9:/ /volumes nfs4 defaults 0 0\n")


@pytest.mark.parametrize("existing", [
    pytest.param("fs-0000aaaa.efs.us-east-1.amazonaws.com:/ /volumes nfs4 defaults 0 0  # efs\n",
                 id="trailing-comment"),
    pytest.param("fs-0000aaaa.efs.us-east-1.amazonaws.com:/ /volumes nfs4 defaults\n",
                 id="four-fields"),
    pytest.param("10.0.1.25:/ /volumes nfs4 defaults 0 0\n10.0.1.26:/ /volumes/ nfs4 rw 0 0\n",
                 id="two-lines-one-with-trailing-slash"),
    pytest.param("", id="no-line-yet"),
])
def test_one_line_for_the_mount_point_others_byte_identical(existing: str) -> None:
    text = HEAD + existing + TAIL
    updated = _fstab.update(text, "/volumes", WANTED)

    active = _fstab.entries_for(updated, "/volumes")
    assert [entry.raw for entry in active] == [WANTED]
    kept = [line for line in updated.splitlines(keepends=True) if line.rstrip("\n") != WANTED]
    assert "".join(kept) == HEAD + TAIL
    assert _fstab.update(updated, "/volumes", WANTED) == updated  # second run: no change


def test_replacement_keeps_the_position_of_the_first_line() -> None:
    text = HEAD + "10.0.1.25:/ /volumes nfs4 defaults 0 0\n" + TAIL
    updated = _fstab.update(text, "/volumes", WANTED)
    assert updated == HEAD + WANTED + "\n" + TAIL


def test_appending_to_a_file_without_final_newline() -> None:
    assert _fstab.update("/dev/sda1 / ext4 defaults 0 1", "/volumes", WANTED) == (
        "/dev/sda1 / ext4 defaults 0 1\n" + WANTED + "\n")


@pytest.mark.parametrize("existing", [
    "10.0.1.25:/ /volumes nfs4 hard,nfsvers=4.1 0 0   # keep me\n",
    "10.0.1.25:/\t/volumes/\tnfs4\tnfsvers=4.1,hard\t0\t0\n",
])
def test_same_entry_with_reordered_options_is_no_change(existing: str) -> None:
    wanted = _fstab.render_line("10.0.1.25:/", "/volumes", "nfs4", ["nfsvers=4.1", "hard"])
    text = HEAD + existing + TAIL
    assert _fstab.update(text, "/volumes", wanted) == text


def test_removal_keeps_everything_else() -> None:
    text = HEAD + "10.0.1.25:/ /volumes nfs4 defaults 0 0  # efs\n" + TAIL
    assert _fstab.update(text, "/volumes", None) == HEAD + TAIL
    assert _fstab.update(HEAD + TAIL, "/volumes", None) == HEAD + TAIL


def test_other_mount_points_below_or_above_are_not_touched() -> None:
    text = "10.0.1.25:/ /volumes/sub nfs4 defaults 0 0\n10.0.1.25:/ /vol nfs4 defaults 0 0\n"
    assert _fstab.update(text, "/volumes", None) == text


@pytest.mark.parametrize("line, expected", [
    ("a:/ /volumes nfs4 hard 0 0", ("a:/", "/volumes", "nfs4", ("hard",), 0, 0)),
    ("a:/ /volumes nfs4 hard", ("a:/", "/volumes", "nfs4", ("hard",), 0, 0)),
    ("a:/ /volumes nfs4", ("a:/", "/volumes", "nfs4", ("defaults",), 0, 0)),
    ("a:/ /my\\040vols nfs4 rw 1 2 # c", ("a:/", "/my vols", "nfs4", ("rw",), 1, 2)),
])
def test_parse_line(line: str, expected: tuple) -> None:
    entry = _fstab.parse_line(line, 1)
    assert (entry.source, entry.mount_point, entry.fstype, entry.options, entry.dump,
            entry.passno) == expected


@pytest.mark.parametrize("line", ["", "   ", "# comment", "  # indented comment"])
def test_blank_and_comment_lines_are_not_entries(line: str) -> None:
    assert _fstab.parse_line(line, 1) is None


@pytest.mark.parametrize("line, message", [
    ("a:/ /volumes", "has 2 field(s)"),
    ("a:/ /volumes nfs4 rw x 0", "field 5 must be a number, got 'x'"),
])
def test_broken_lines_are_errors_naming_the_line(line: str, message: str) -> None:
    with pytest.raises(_fstab.FstabError, match=f"line 3 .*{message}".replace("(", r"\(")
                       .replace(")", r"\)")):
        _fstab.update("# a\n# b\n" + line + "\n", "/volumes", WANTED)


def test_paths_with_blanks_are_escaped() -> None:
    line = _fstab.render_line("10.0.1.25:/", "/my vols", "nfs4", ["hard"])
    assert line == "10.0.1.25:/ /my\\040vols nfs4 hard 0 0"
    assert _fstab.parse_line(line, 1).mount_point == "/my vols"


@pytest.mark.parametrize("option", ["", "a,b", "a b", "x#y"])
def test_options_that_cannot_be_written_are_refused(option: str) -> None:
    with pytest.raises(_fstab.FstabError, match="cannot be written to fstab"):
        _fstab.render_line("10.0.1.25:/", "/volumes", "nfs4", ["hard", option])


@pytest.mark.parametrize("option, fstab_only", [
    ("_netdev", True), ("nofail", True), ("x-systemd.automount", True), ("noauto", True),
    ("comment=efs", True), ("timeo=600", False), ("hard", False), ("noresvport", False),
])
def test_fstab_only_options(option: str, fstab_only: bool) -> None:
    assert _fstab.is_fstab_only(option) is fstab_only


@pytest.mark.parametrize("others", [
    pytest.param("UUID=0a1b\t/\text4\terrors=remount-ro\t0\t1\n", id="tabs-and-uuid"),
    pytest.param("LABEL=data /data ext4 defaults 0 2\n", id="label"),
    pytest.param("/dev/sdb1 /mnt/my\\040disk ext4 defaults 0 2\n", id="escaped-space"),
    pytest.param("# 10.0.9.9:/ /volumes nfs4 defaults 0 0\n", id="commented-out-volumes"),
    pytest.param("# page\x0cbreak and a line\u2028separator in a comment\n", id="odd-breaks"),
    pytest.param("# caf\u00e9 \x85 next-line character\n", id="nel-in-comment"),
])
def test_other_lines_of_any_shape_stay_byte_identical(others: str) -> None:
    existing = "10.0.1.25:/ /volumes nfs4 defaults 0 0\n"
    for text in (others + existing, existing + others, others):
        updated = _fstab.update(text, "/volumes", WANTED)
        assert [entry.raw for entry in _fstab.entries_for(updated, "/volumes")] == [WANTED]
        assert updated.replace(WANTED + "\n", "") == text.replace(existing, "")
        assert _fstab.update(updated, "/volumes", None) == text.replace(existing, "")


@pytest.mark.parametrize("text, expected", [
    pytest.param("UUID=0a1b / ext4 defaults 0 1\r\n",
                 "UUID=0a1b / ext4 defaults 0 1\r\n" + WANTED + "\r\n", id="crlf-append"),
    pytest.param("UUID=0a1b / ext4 defaults 0 1\r\nLABEL=x /x ext4 defaults 0 2",
                 "UUID=0a1b / ext4 defaults 0 1\r\nLABEL=x /x ext4 defaults 0 2\r\n"
                 + WANTED + "\r\n", id="crlf-no-final-newline"),
    pytest.param("a:/ /volumes nfs4 defaults 0 0\r\n# end\r\n",
                 WANTED + "\r\n# end\r\n", id="crlf-replace"),
])
def test_windows_line_endings_are_kept(text: str, expected: str) -> None:
    assert _fstab.update(text, "/volumes", WANTED) == expected
    assert _fstab.update(expected, "/volumes", WANTED) == expected


def test_a_replaced_last_line_without_newline_gets_the_file_s_ending() -> None:
    text = "UUID=0a1b / ext4 defaults 0 1\r\na:/ /volumes nfs4 defaults 0 0"
    assert _fstab.update(text, "/volumes", WANTED) == (
        "UUID=0a1b / ext4 defaults 0 1\r\n" + WANTED + "\r\n")
