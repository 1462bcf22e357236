"""`hear-ssl tasks download` against a small archive served from 127.0.0.1: resume, md5, extraction."""

import hashlib
import io
import json
import tarfile

import pytest

from hear_ssl.evaluation.download import ARCHIVES, DownloadError, download_file, download_tasks, extract_task
from hear_ssl.evaluation.tasks import validate_task

from .eval_support import serve_files, subset_task

FOLDER = "gunshot_triangulation-v1.0-full"  # any official folder name: the test serves its own archive


def make_archive(task_dir, folder, extra=None):
    """A .tar.gz laid out like the Zenodo archives: tasks/<folder>/..."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(task_dir, arcname=f"tasks/{folder}")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def record(base, files):
    return json.dumps(
        {
            "files": [
                {
                    "key": name,
                    "size": len(data),
                    "checksum": "md5:" + hashlib.md5(data).hexdigest(),
                    "links": {"self": f"{base}/files/{name}/content"},
                }
                for name, data in files.items()
            ]
        }
    ).encode()


@pytest.fixture
def archive_bytes(tmp_path, hear_tasks_dir):
    task = subset_task(hear_tasks_dir / "gm_pitch-v1.0.0-full", tmp_path / "src", per_split=2)
    return make_archive(task, FOLDER)


def test_interrupted_download_resumes_then_extracts(tmp_path, archive_bytes):
    name = ARCHIVES[FOLDER].filename
    assert name == f"hear2021-{FOLDER}-48000.tar.gz"
    files = {}
    base, server = serve_files(files, truncate_first=f"/files/{name}/content")
    files[f"/files/{name}/content"] = archive_bytes
    files["/api/records/1"] = record(base, {name: archive_bytes})
    try:
        out = tmp_path / "tasks"
        with pytest.raises(DownloadError, match="rerun the same command to resume"):
            download_tasks(out, FOLDER, api_url=f"{base}/api/records/1", progress=False)
        part = out / ".downloads" / f"{name}.part"
        assert 0 < part.stat().st_size < len(archive_bytes)
        assert not (out / FOLDER).exists()
        paths = download_tasks(out, FOLDER, api_url=f"{base}/api/records/1", progress=False)
        assert paths == [out / FOLDER]
        assert validate_task(out / FOLDER).ok
        assert not (out / ".downloads").exists()  # archive removed after extraction
        ranges = [r for p, r in server.state["requests"] if p.endswith("/content")]
        assert (
            ranges[0] is None
            and ranges[1] == f"bytes={part.stat().st_size if part.exists() else len(archive_bytes) // 2}-"
        )
        # Already present: no network needed at all.
        server.state["requests"].clear()
        assert download_tasks(out, FOLDER, api_url="http://127.0.0.1:9/unreachable", progress=False) == [out / FOLDER]
    finally:
        server.shutdown()


def test_checksum_mismatch_is_refused(tmp_path, archive_bytes):
    base, server = serve_files({"/a.tar.gz": archive_bytes})
    try:
        with pytest.raises(DownloadError, match="does not match the published"):
            download_file(f"{base}/a.tar.gz", tmp_path / "a.tar.gz", len(archive_bytes), "0" * 32, progress=False)
        assert not (tmp_path / "a.tar.gz.part").exists() and not (tmp_path / "a.tar.gz").exists()
    finally:
        server.shutdown()


def test_pinned_md5_must_agree_with_the_record(tmp_path, archive_bytes):
    folder = "beehive_states_fold0-v2-full"  # the archive whose md5 is pinned in ARCHIVES
    name = ARCHIVES[folder].filename
    files = {f"/files/{name}/content": archive_bytes}
    base, server = serve_files(files)
    files["/api/records/1"] = record(base, {name: archive_bytes})
    try:
        with pytest.raises(DownloadError, match="differs from the pinned"):
            download_tasks(tmp_path / "tasks", folder, api_url=f"{base}/api/records/1", progress=False)
    finally:
        server.shutdown()


def test_unsafe_archive_members_are_refused(tmp_path, hear_tasks_dir):
    task = subset_task(hear_tasks_dir / "gm_pitch-v1.0.0-full", tmp_path / "src", per_split=1)
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(make_archive(task, FOLDER, extra={"tasks/../../escape.txt": b"x"}))
    with pytest.raises(DownloadError, match="unexpected member"):
        extract_task(evil, FOLDER, tmp_path / "tasks")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "tasks" / FOLDER).exists()


def test_catalogue_covers_the_benchmark():
    from hear_ssl.evaluation.leaderboard import OFFICIAL_TASKS

    assert set(ARCHIVES) == set(OFFICIAL_TASKS) and len(ARCHIVES) == 20
    assert len(set(OFFICIAL_TASKS.values())) == 19


def test_archive_without_any_published_md5_is_refused(tmp_path, archive_bytes):
    name = ARCHIVES[FOLDER].filename
    assert ARCHIVES[FOLDER].md5 is None  # not pinned: only the live record could vouch for it
    files = {f"/files/{name}/content": archive_bytes}
    base, server = serve_files(files)
    listing = json.loads(record(base, {name: archive_bytes}))
    del listing["files"][0]["checksum"]
    files["/api/records/1"] = json.dumps(listing).encode()
    try:
        with pytest.raises(DownloadError, match="refusing to download"):
            download_tasks(tmp_path / "tasks", FOLDER, api_url=f"{base}/api/records/1", progress=False)
        assert not (tmp_path / "tasks" / FOLDER).exists()
    finally:
        server.shutdown()
