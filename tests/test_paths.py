"""Video references resolve inside the data roots; everything else is refused with a clear message."""

from __future__ import annotations

import os

import pytest

from ivos_core.paths import UnsafePathError, VideoNotFoundError, parse_roots, resolve_video_ref


@pytest.fixture
def roots(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    (a / "davis" / "bear").mkdir(parents=True)
    (b / "videos").mkdir(parents=True)
    (b / "videos" / "clip.mp4").write_bytes(b"x")
    (a / "davis" / "bear" / "00000.jpg").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    return a, b, outside


def test_relative_resolves_in_first_root_that_has_it(roots):
    a, b, _ = roots
    assert resolve_video_ref("davis/bear", [a, b]) == (a / "davis" / "bear").resolve()
    assert resolve_video_ref("videos/clip.mp4", [a, b]) == (b / "videos" / "clip.mp4").resolve()


def test_absolute_inside_and_file_url(roots):
    a, b, _ = roots
    clip = (b / "videos" / "clip.mp4").resolve()
    assert resolve_video_ref(str(clip), [a, b]) == clip
    assert resolve_video_ref(f"file://{clip}", [a, b]) == clip
    assert resolve_video_ref(f"file://localhost{clip}", [a, b]) == clip


def test_absolute_outside_refused_with_roots_and_how_to_configure(roots):
    a, b, outside = roots
    with pytest.raises(UnsafePathError) as e:
        resolve_video_ref(str(outside / "secret.mp4"), [a, b])
    msg = str(e.value)
    assert str(a) in msg and "IVOS_DATA" in msg and "--roots" in msg
    with pytest.raises(UnsafePathError):
        resolve_video_ref(f"file://{outside / 'secret.mp4'}", [a])


@pytest.mark.parametrize("ref", ["../outside/secret.mp4", "davis/../../outside/secret.mp4", "davis/../davis/bear"])
def test_dotdot_refused(roots, ref):
    a, b, _ = roots
    with pytest.raises(UnsafePathError, match=r"\.\."):
        resolve_video_ref(ref, [a, b])


def test_symlink_escape_refused(roots):
    a, b, outside = roots
    os.symlink(outside, a / "link")
    with pytest.raises(UnsafePathError, match="symlink"):
        resolve_video_ref("link/secret.mp4", [a])
    # An absolute path through the link resolves outside too.
    with pytest.raises(UnsafePathError, match="outside"):
        resolve_video_ref(str(a / "link" / "secret.mp4"), [a])


@pytest.mark.parametrize("ref", ["http://example.com/v.mp4", "s3://bucket/v.mp4", "ftp://x/y", "file://evil.host/etc/passwd"])
def test_unsupported_schemes_refused(roots, ref):
    a, _, _ = roots
    with pytest.raises(UnsafePathError):
        resolve_video_ref(ref, [a])


def test_missing_names_uri_and_roots(roots):
    a, b, _ = roots
    with pytest.raises(VideoNotFoundError) as e:
        resolve_video_ref("davis/nope", [a, b])
    assert "davis/nope" in str(e.value) and str(a) in str(e.value) and str(b) in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_roots_from_env(roots, monkeypatch):
    a, b, _ = roots
    monkeypatch.setenv("IVOS_DATA", f"{a}:{b}")
    assert resolve_video_ref("videos/clip.mp4") == (b / "videos" / "clip.mp4").resolve()
    assert parse_roots(f"{a}::{b}") == [a, b]


def test_no_roots_configured():
    with pytest.raises(UnsafePathError, match="IVOS_DATA"):
        resolve_video_ref("x.mp4", [])
