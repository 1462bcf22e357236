"""Download the official HEAR 2021 task archives from their public Zenodo record.

The organisers publish the preprocessed tasks at 48 kHz on Zenodo (record 6332517, "HEAR 2021.3";
the older record 5887964 is linked from hearbenchmark.com), one `hear2021-<task folder>-48000.tar.gz`
per task, each unpacking to `tasks/<task folder>/`. Other sample rates exist only in requester-pays
buckets (gs://hear2021-archive/tasks/, s3://hear2021-archive/tasks/); the harness resamples 48 kHz
on the fly instead (see `hear_ssl.evaluation.resample`).

The record's file list (names, sizes, md5 checksums as Zenodo computes and publishes them) is read
from the Zenodo API before downloading. Checksums also published elsewhere by dataset users are pinned
in `ARCHIVES` and must agree with the record. Downloads resume from a `.part` file with HTTP range
requests; an archive is extracted only after its size and md5 match, into a hidden folder that is
renamed into place, so an interrupted download or extraction never leaves a half task.
"""

import http.client
import json
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from hear_ssl.io import atomic_directory, commit_file, file_digest

from .leaderboard import OFFICIAL_TASKS
from .tasks import is_task_folder

ZENODO_RECORD = "6332517"
ZENODO_API = f"https://zenodo.org/api/records/{ZENODO_RECORD}"
SAMPLE_RATE = 48000
CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """One task archive of the HEAR 2021 Zenodo record.

    Attributes
    ----------
    folder : str
        The task folder it unpacks to (`tasks/<folder>/` inside the archive).
    md5 : str or None
        md5 published outside the record (pinned); None where only the record publishes it.
    """

    folder: str
    md5: str = None

    @property
    def filename(self):
        return f"hear2021-{self.folder}-{SAMPLE_RATE}.tar.gz"


# The 20 task folders of the HEAR benchmark (19 tasks; Beehive in two folds). The file names follow
# the record's `hear2021-<folder>-48000.tar.gz` pattern, seen verbatim in public download scripts for
# esc50, fsd50k, nsynth_pitch 50h, speech_commands full, tfds_crema_d, tfds_gtzan, libricount,
# vocal_imitation, beijing_opera, mridangam stroke/tonic, dcase2016_task2 and both Beehive folds.
# The Beehive md5s are those a public dataset-conversion script pins for the two archives.
ARCHIVES = {
    a.folder: a
    for a in [Archive(folder) for folder in OFFICIAL_TASKS if not folder.startswith("beehive")]
    + [
        Archive("beehive_states_fold0-v2-full", "f9e045f9b2ddf5643edc1143304c80aa"),
        Archive("beehive_states_fold1-v2-full", "8bced7ce8336bf23fd61c61f04aee109"),
    ]
}


class DownloadError(RuntimeError):
    """A download or verification failure; the message names the file and what to do."""


def fetch_record(api_url=ZENODO_API, timeout=60):
    """The record's files as `{filename: {"size", "md5", "url"}}`, from the Zenodo records API."""
    try:
        with urllib.request.urlopen(api_url, timeout=timeout) as response:
            record = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(
            f"cannot read the Zenodo record {api_url}: {err}; check the network or pass --record-url"
        ) from err
    files = record.get("files")
    if isinstance(files, dict):  # newer API shape: {"entries": {...}} or {"entries": [...]}
        files = files.get("entries", files)
        files = list(files.values()) if isinstance(files, dict) else files
    out = {}
    for entry in files or []:
        key = entry.get("key") or entry.get("filename")
        checksum = entry.get("checksum", "")
        links = entry.get("links", {})
        url = links.get("content") or links.get("self") or links.get("download") or f"{api_url}/files/{key}/content"
        out[key] = {
            "size": entry.get("size") or entry.get("filesize"),
            "md5": checksum.removeprefix("md5:") or None,
            "url": url,
        }
    if not out:
        raise DownloadError(f"the Zenodo record {api_url} lists no files")
    return out


def select_archives(patterns=None):
    """Archives whose task folder matches any of the comma-separated shell patterns (all by default)."""
    import fnmatch

    if not patterns or patterns == "all":
        return list(ARCHIVES.values())
    wanted = [p for p in patterns.split(",") if p]
    chosen = [a for a in ARCHIVES.values() if any(fnmatch.fnmatch(a.folder, p) for p in wanted)]
    if not chosen:
        raise DownloadError(f"no HEAR 2021 task matches {patterns}; tasks: {', '.join(ARCHIVES)}")
    return chosen


def download_file(url, dest, size=None, md5=None, progress=True, timeout=60):
    """Download `url` to `dest`, resuming `dest.part` with a range request, then verify size and md5.

    Raises
    ------
    DownloadError
        On a size or checksum mismatch (the partial file is removed so the next try starts clean).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is None or have < size:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and size is not None and have == size:  # already complete
                response = None
            else:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(f"{url}: {err}; rerun the same command to resume") from err
        if response is not None:
            with response:
                if have and response.status != 206:  # server ignored the range: start over
                    have = 0
                mode = "ab" if have else "wb"
                bar = tqdm(total=size, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress)
                try:
                    with open(part, mode) as f, bar:
                        while chunk := response.read(CHUNK):
                            f.write(chunk)
                            bar.update(len(chunk))
                except (http.client.HTTPException, OSError) as err:
                    raise DownloadError(
                        f"{dest.name}: transfer interrupted ({err!r}); rerun the same command to resume"
                    ) from err
    got = part.stat().st_size
    if size is not None and got != size:
        raise DownloadError(f"{dest.name}: got {got} bytes, the record says {size}; rerun the same command to resume")
    if md5 is not None:
        actual = file_digest(part, "md5")
        if actual != md5:
            part.unlink()
            raise DownloadError(
                f"{dest.name}: md5 {actual} does not match the published {md5}; "
                "the partial file was removed, rerun to download again"
            )
    commit_file(part, dest)
    return dest


def extract_task(archive_path, folder, tasks_dir):
    """Safely unpack `tasks/<folder>/...` of an archive into `tasks_dir/<folder>` (atomically)."""
    tasks_dir = Path(tasks_dir)
    target = tasks_dir / folder
    prefixes = (f"tasks/{folder}/", f"{folder}/")
    with atomic_directory(target) as staging, tarfile.open(archive_path, "r:*") as tar:
        members = []
        for member in tar:
            name = member.name.removeprefix("./")
            if name.rstrip("/") in ("tasks", f"tasks/{folder}", folder):
                continue
            if Path(name).is_absolute() or ".." in Path(name).parts or not name.startswith(prefixes):
                raise DownloadError(f"{archive_path}: unexpected member {member.name!r} (expected tasks/{folder}/...)")
            if not (member.isfile() or member.isdir()):
                raise DownloadError(f"{archive_path}: member {member.name!r} is a link or device; refusing to extract")
            member.name = name.removeprefix("tasks/").removeprefix(f"{folder}/")
            members.append(member)
        tar.extractall(staging, members=members, filter="data")
        if not is_task_folder(staging):
            raise DownloadError(f"{archive_path}: no task_metadata.json under tasks/{folder}/")
    return target


def download_tasks(tasks_dir, patterns=None, api_url=ZENODO_API, keep_archives=False, progress=True):
    """Download, verify and extract HEAR 2021 tasks into `tasks_dir`; skips tasks already present.

    Returns
    -------
    list of Path
        The task folders (downloaded now or already there).
    """
    tasks_dir = Path(tasks_dir)
    archives = select_archives(patterns)
    todo = [a for a in archives if not is_task_folder(tasks_dir / a.folder)]
    done = [tasks_dir / a.folder for a in archives if a not in todo]
    if not todo:
        return done
    record = fetch_record(api_url)
    downloads = tasks_dir / ".downloads"
    for archive in todo:
        entry = record.get(archive.filename)
        if entry is None:
            raise DownloadError(f"{archive.filename} is not in the Zenodo record {api_url}")
        if archive.md5 and entry["md5"] and archive.md5 != entry["md5"]:
            raise DownloadError(
                f"{archive.filename}: the record's md5 {entry['md5']} differs from the pinned {archive.md5}; "
                "the record changed, do not trust this archive without checking"
            )
        path = download_file(
            entry["url"], downloads / archive.filename, entry["size"], archive.md5 or entry["md5"], progress
        )
        done.append(extract_task(path, archive.folder, tasks_dir))
        if not keep_archives:
            path.unlink()
    if downloads.is_dir() and not any(downloads.iterdir()):
        downloads.rmdir()
    return done
