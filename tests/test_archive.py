"""Code archives are checked without extracting them: safe ones pass with their counts; path
traversal, links, devices, bombs, caps, encryption and non-archives are refused by name.

Archives are built here with the standard library's writers (members named as an attacker
would), so nothing depends on maikit writing them."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from maikit.archive import ArchiveCaps, check_archive
from maikit.errors import MaikitError


def _zip(path, members: dict, *, attrs: dict | None = None, compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compress
            if attrs and name in attrs:
                info.external_attr = attrs[name] << 16
            zf.writestr(info, data)
    return path


def _tar(path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz"):
    with tarfile.open(path, mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def test_a_plain_zip_and_each_tar_compression_pass_with_their_counts(tmp_path):
    z = check_archive(_zip(tmp_path / "code.zip", {"src/": b"", "src/train.py": b"print(1)\n", "README.md": b"# hi\n"}))
    assert z == {"format": "zip", "members": 3, "files": 2, "unpacked_bytes": 14,
                 "top": ["src/", "src/train.py", "README.md"]}
    for mode, fmt in (("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")):
        t = check_archive(_tar(tmp_path / f"code.{fmt}", [("a/train.py", b"x" * 10), ("b.txt", b"yy")], mode))
        assert (t["format"], t["members"], t["files"], t["unpacked_bytes"]) == (fmt, 2, 2, 12)


def test_the_format_is_told_by_content_not_by_name(tmp_path):
    disguised = _zip(tmp_path / "code.tar.gz", {"a.py": b"1"})
    assert check_archive(disguised)["format"] == "zip"
    text = tmp_path / "code.zip"
    text.write_text("print('not an archive')\n")
    with pytest.raises(MaikitError, match="not a zip or tar archive"):
        check_archive(text)


@pytest.mark.parametrize("name, why", [
    ("../evil.py", "'..' component"), ("a/../../evil.py", "'..' component"), ("/etc/cron.d/x", "absolute path"),
    ("C:\\Windows\\x.dll", "absolute path"), ("..\\evil.py", "'..' component"),
])
def test_member_names_that_leave_the_folder_are_refused_in_zip_and_tar(tmp_path, name, why):
    with pytest.raises(MaikitError, match=why):
        check_archive(_zip(tmp_path / "a.zip", {"ok.py": b"1", name: b"boom"}))
    with pytest.raises(MaikitError, match=why):
        check_archive(_tar(tmp_path / "a.tgz", [("ok.py", b"1"), (name, b"boom")]))


def test_links_devices_and_fifos_are_refused(tmp_path):
    with pytest.raises(MaikitError, match="symbolic link"):
        check_archive(_zip(tmp_path / "l.zip", {"ok.py": b"1", "link": b"/etc/passwd"}, attrs={"link": 0o120777}))
    for kind, what in ((tarfile.SYMTYPE, "symbolic link"), (tarfile.LNKTYPE, "hard link"),
                       (tarfile.CHRTYPE, "not a plain file"), (tarfile.FIFOTYPE, "not a plain file")):
        m = tarfile.TarInfo("x")
        m.type, m.linkname = kind, "/etc/passwd"
        with pytest.raises(MaikitError, match=what):
            check_archive(_tar(tmp_path / f"{ord(kind)}.tgz", [("ok.py", b"1"), m]))


def test_caps_on_members_and_unpacked_size(tmp_path):
    caps = ArchiveCaps(max_members=3, max_unpacked_bytes=1000)
    many = {f"f{i}.py": b"1" for i in range(4)}
    with pytest.raises(MaikitError, match="4 members, more than the cap of 3"):
        check_archive(_zip(tmp_path / "m.zip", many), caps)
    with pytest.raises(MaikitError, match="more than the cap of 3 members"):
        check_archive(_tar(tmp_path / "m.tgz", list(many.items())), caps)
    big = {"a.bin": os.urandom(600), "b.bin": os.urandom(600)}
    with pytest.raises(MaikitError, match="unpacks to more than the cap"):
        check_archive(_zip(tmp_path / "b.zip", big), caps)
    with pytest.raises(MaikitError, match="unpacks to more than the cap"):
        check_archive(_tar(tmp_path / "b.tgz", list(big.items())), caps)


def test_a_compressed_tar_bomb_stops_at_the_cap(tmp_path):
    # 5 MB of zeros in one member: the counted decompressed stream passes the 50 KB cap long
    # before the member's end, and reading stops there
    caps = ArchiveCaps(max_unpacked_bytes=50_000)
    bomb = _tar(tmp_path / "bomb.tar.gz", [("zeros.bin", bytes(5_000_000))])
    assert bomb.stat().st_size < 20_000  # zeros compress ~1000:1
    with pytest.raises(MaikitError, match="unpacks to more than the cap of 0.05 MB"):
        check_archive(bomb, caps)


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(5_000_000)})
    with pytest.raises(MaikitError, match="zip bomb"):
        check_archive(bomb)
    stored = _zip(tmp_path / "stored.zip", {"zeros.bin": bytes(2_000_000)}, compress=zipfile.ZIP_STORED)
    assert check_archive(stored)["unpacked_bytes"] == 2_000_000


def test_duplicates_encryption_empty_and_truncated_archives_are_refused(tmp_path):
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(dup, "w") as zf:
        zf.writestr("a.py", b"1")
        with pytest.warns(UserWarning):
            zf.writestr("a.py", b"2")
    with pytest.raises(MaikitError, match="appears twice"):
        check_archive(dup)
    enc = _zip(tmp_path / "enc.zip", {"a.py": b"1"})
    data = bytearray(enc.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encrypted flag in the local and central headers
        at = data.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        data[flag_at] |= 1
    enc.write_bytes(bytes(data))
    with pytest.raises(MaikitError, match="encrypted"):
        check_archive(enc)
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(MaikitError, match="empty archive"):
        check_archive(empty)
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(_tar(tmp_path / "whole.tgz", [("a.py", os.urandom(4000))]).read_bytes()[:1500])
    with pytest.raises(MaikitError, match="not a readable gzip-compressed tar archive"):
        check_archive(cut)
