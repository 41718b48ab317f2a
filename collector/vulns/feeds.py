"""The feeds' formats, parsed into rows of the vulnerability tables (collector.models).

- Debian Security Tracker JSON (https://security-tracker.debian.org/tracker/data/json):
  source package -> CVE -> release -> status, fixed_version, urgency.
- Ubuntu OSV records (UBUNTU-CVE-*, USN-*; one JSON, a directory or a zip of them): per
  ``affected`` package an ecosystem "Ubuntu[:Pro]:22.04:LTS", the source package, and a range
  whose ``fixed`` event is the fixed version (none: no fix yet).
- MSRC's data as wesng ships it (definitions.zip, CVEs_YYYYMMDD.csv): CVE, the fixing
  update's KB, the product, severity and the KBs that update supersedes.
- CISA KEV (known_exploited_vulnerabilities.json) and FIRST EPSS (CSV, also gzipped).

Pure: bytes in, rows out. A file that is none of these is refused (FeedError).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from collector.vulns.severity import normalize

FEEDS = ("debian", "ubuntu", "msrc", "kev", "epss")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_WESNG_NAME = re.compile(r"(?:^|/)CVEs_(\d{8})\.csv$")
_EPSS_DATE = re.compile(r"score_date:(\d{4}-\d{2}-\d{2})")


class FeedError(ValueError):
    """The data is not a feed this collector knows, or is broken."""


@dataclass
class Parsed:
    feed: str
    # the date the feed states for itself; None where it states none
    feed_date: dt.datetime | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    # msrc only: (kb, superseded kb)
    supersedence: set[tuple[str, str]] = field(default_factory=set)


def parse(data: bytes, name: str = "", feed: str | None = None) -> Parsed:
    """The rows of one feed file; ``feed`` names it, else it is recognized by its content."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FeedError(f"broken gzip: {exc}") from exc
    if data[:4] == b"PK\x03\x04":
        return _parse_zip(data, feed)
    head = data[:4096].lstrip()
    if feed == "epss" or (
        feed is None and (head.startswith(b"#model_version") or head.startswith(b"cve,epss"))
    ):
        return parse_epss(data.decode("utf-8"))
    if feed == "msrc" or (feed is None and head.startswith(b'"DatePosted"')):
        return parse_wesng_csv(data.decode("utf-8-sig"), _wesng_date(name))
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise FeedError(f"{name or 'data'}: neither JSON, CSV nor a zip archive: {exc}") from exc
    if feed == "kev" or (
        feed is None
        and isinstance(document, dict)
        and "vulnerabilities" in document
        and "catalogVersion" in document
    ):
        return parse_kev(document)
    if feed == "ubuntu" or (
        feed is None and isinstance(document, dict) and "affected" in document and "id" in document
    ):
        return parse_ubuntu_osv([document])
    if feed in (None, "debian"):
        return parse_debian(document)
    raise FeedError(f"{name or 'data'}: not a {feed} feed")


def parse_files(files: Iterable[tuple[str, bytes]], feed: str | None = None) -> Parsed:
    """Several OSV records (a directory's files)."""
    documents = []
    for name, data in files:
        try:
            documents.append(json.loads(data))
        except ValueError as exc:
            raise FeedError(f"{name}: not JSON: {exc}") from exc
    if feed not in (None, "ubuntu"):
        raise FeedError(f"a directory holds OSV records (ubuntu), not {feed}")
    return parse_ubuntu_osv(documents)


def _parse_zip(data: bytes, feed: str | None) -> Parsed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        csvs = [n for n in names if _WESNG_NAME.search(n)]
        if csvs and feed in (None, "msrc"):
            name = max(csvs)
            text = archive.read(name).decode("utf-8-sig")
            return parse_wesng_csv(text, _wesng_date(name))
        jsons = [n for n in names if n.endswith(".json")]
        if jsons and feed in (None, "ubuntu"):
            return parse_ubuntu_osv(json.loads(archive.read(n)) for n in jsons)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise FeedError(f"broken zip archive: {exc}") from exc
    raise FeedError("a zip archive without CVEs_*.csv (wesng) or OSV records (*.json)")


def _date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def _datetime(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # KEV writes seven fractional digits ("17:04:19.9796Z" has four; some have seven)
        try:
            value = dt.datetime.fromisoformat(re.sub(r"\.\d+", "", text).replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- Debian ------------------------------------------------------------------------------


def parse_debian(document: Any) -> Parsed:
    """Resolved with a fixed version above "0" and open entries; ``resolved`` with "0" (never
    affected), ``not-affected`` and ``undetermined`` are left out. The JSON states no date."""
    if not isinstance(document, dict):
        raise FeedError("Debian tracker JSON: not an object of source packages")
    rows: list[dict[str, Any]] = []
    for package, cves in document.items():
        if not isinstance(cves, dict):
            raise FeedError(f"Debian tracker JSON: {package!r} is not an object of CVEs")
        for cve, entry in cves.items():
            releases = entry.get("releases") if isinstance(entry, dict) else None
            if not isinstance(releases, dict):
                continue
            for release, state in releases.items():
                if not isinstance(state, dict):
                    continue
                status = state.get("status")
                fixed = state.get("fixed_version")
                if status == "resolved" and isinstance(fixed, str) and fixed and fixed != "0":
                    pass
                elif status == "open":
                    fixed = None
                else:
                    continue
                rows.append(
                    {
                        "feed": "debian",
                        "release": release,
                        "package": package,
                        "cve": cve,
                        "status": status,
                        "fixed_version": fixed,
                        "pro": False,
                        "severity": normalize(state.get("urgency")),
                    }
                )
    if not rows and document:
        raise FeedError("Debian tracker JSON: no package has a release entry")
    return Parsed("debian", None, rows)


# --- Ubuntu OSV --------------------------------------------------------------------------


def _ubuntu_cves(record: dict[str, Any]) -> list[str]:
    """A UBUNTU-CVE record is its CVE; a USN names its CVEs as UBUNTU-CVE-* upstream ids."""
    ids = [str(record.get("id", ""))] + [str(u) for u in record.get("upstream") or []]
    ids += [str(a) for a in record.get("aliases") or []]
    cves = {i.removeprefix("UBUNTU-") for i in ids}
    return sorted(c for c in cves if _CVE.match(c))


def _ubuntu_priority(record: dict[str, Any]) -> str | None:
    for item in record.get("severity") or []:
        if isinstance(item, dict) and item.get("type") == "Ubuntu":
            return normalize(str(item.get("score")))
    return None


def _release(affected: dict[str, Any]) -> tuple[str | None, bool]:
    """The codename (from the purl's distro: "jammy", "esm-apps/xenial", "trusty/esm") and
    whether the ecosystem is Ubuntu Pro's."""
    package = affected.get("package") or {}
    ecosystem = str(package.get("ecosystem", ""))
    if not ecosystem.startswith("Ubuntu:"):
        return None, False
    pro = ecosystem.startswith("Ubuntu:Pro:")
    match = re.search(r"[?&]distro=([^&]+)", str(package.get("purl", "")))
    if not match:
        return None, pro
    parts = [p for p in match.group(1).split("/") if p and p != "esm" and not p.startswith("esm-")]
    return (parts[0] if parts else None), pro


def parse_ubuntu_osv(records: Iterable[Any]) -> Parsed:
    rows: list[dict[str, Any]] = []
    newest: dt.datetime | None = None
    seen: set[tuple[str, str, str, bool]] = set()
    for record in records:
        if not isinstance(record, dict) or "affected" not in record:
            raise FeedError("Ubuntu OSV: a record without 'affected'")
        modified = _datetime(record.get("modified"))
        if modified and (newest is None or modified > newest):
            newest = modified
        if record.get("withdrawn"):
            continue  # Canonical withdrew it: it applies to nothing
        cves = _ubuntu_cves(record)
        severity = _ubuntu_priority(record)
        for affected in record.get("affected") or []:
            release, pro = _release(affected)
            name = (affected.get("package") or {}).get("name")
            if release is None or not name:
                continue
            for range_ in affected.get("ranges") or []:
                if range_.get("type") != "ECOSYSTEM":
                    continue
                fixed = next(
                    (
                        e["fixed"]
                        for e in range_.get("events") or []
                        if isinstance(e, dict) and e.get("fixed")
                    ),
                    None,
                )
                for cve in cves:
                    key = (release, name, cve, pro)
                    if key in seen:
                        continue  # a USN and the CVE's record say the same
                    seen.add(key)
                    rows.append(
                        {
                            "feed": "ubuntu",
                            "release": release,
                            "package": name,
                            "cve": cve,
                            "status": "resolved" if fixed else "open",
                            "fixed_version": fixed,
                            "pro": pro,
                            "severity": severity,
                        }
                    )
    return Parsed("ubuntu", newest, rows)


# --- MSRC (wesng) ------------------------------------------------------------------------


def _wesng_date(name: str) -> dt.datetime | None:
    match = _WESNG_NAME.search(name)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=dt.UTC)


def _kb(text: str) -> str | None:
    digits = text.strip().upper().removeprefix("KB")
    return digits if digits.isdigit() else None


def parse_wesng_csv(text: str, feed_date: dt.datetime | None) -> Parsed:
    """Windows products only (their names start "Windows"); one row per product, CVE and
    fixing KB; rows without a KB (no fix named) are left out."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    expected = [
        "DatePosted",
        "CVE",
        "BulletinKB",
        "Title",
        "AffectedProduct",
        "AffectedComponent",
        "Severity",
        "Impact",
        "Supersedes",
    ]
    if header is None or header[: len(expected)] != expected:
        raise FeedError(f"wesng CSV: unexpected header {header!r}")
    fixes: dict[tuple[str, str, str], dict[str, Any]] = {}
    supersedence: set[tuple[str, str]] = set()
    listed: set[tuple[str, str]] = set()
    for row in _rows(reader):
        kb = _kb(row[2])
        if kb is None:
            continue
        if row[8] and (kb, row[8]) not in listed:  # the same list repeats on every row
            listed.add((kb, row[8]))
            for old in row[8].split(";"):
                superseded = _kb(old)
                if superseded and superseded != kb:
                    supersedence.add((kb, superseded))
        product, cve = row[4], row[1]
        if not product.startswith("Windows") or not _CVE.match(cve):
            continue
        key = (product, cve, kb)
        if key not in fixes:
            fixes[key] = {
                "product": product,
                "cve": cve,
                "kb": kb,
                "severity": normalize(row[6]),
                "impact": row[7][:128] or None,
                "posted": _posted(row[0]),
            }
    return Parsed("msrc", feed_date, list(fixes.values()), supersedence)


def _rows(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    for row in reader:
        if len(row) >= 9:
            yield row


def _posted(text: str) -> dt.date | None:
    # YYYYMMDD; sliced, not strptime'd (600,000 rows)
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None
    except ValueError:
        return None


# --- KEV and EPSS ------------------------------------------------------------------------


def parse_kev(document: dict[str, Any]) -> Parsed:
    rows = []
    for item in document.get("vulnerabilities") or []:
        cve = str(item.get("cveID", ""))
        if not _CVE.match(cve):
            continue
        rows.append(
            {
                "cve": cve,
                "vendor": (item.get("vendorProject") or None),
                "product": (item.get("product") or None),
                "name": (item.get("vulnerabilityName") or "")[:512] or None,
                "date_added": _date(item.get("dateAdded")),
                "due_date": _date(item.get("dueDate")),
                "ransomware": (item.get("knownRansomwareCampaignUse") or None),
            }
        )
    if not rows:
        raise FeedError("KEV JSON: no vulnerabilities")
    return Parsed("kev", _datetime(document.get("dateReleased")), rows)


def parse_epss(text: str) -> Parsed:
    lines = text.splitlines()
    date = None
    if lines and lines[0].startswith("#"):
        match = _EPSS_DATE.search(lines[0])
        if match:
            date = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.UTC)
        lines = lines[1:]
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or not {"cve", "epss", "percentile"} <= set(reader.fieldnames):
        raise FeedError(
            f"EPSS CSV: expected columns cve, epss, percentile, not {reader.fieldnames}"
        )
    rows = []
    for row in reader:
        try:
            rows.append(
                {
                    "cve": row["cve"],
                    "epss": float(row["epss"]),
                    "percentile": float(row["percentile"]),
                }
            )
        except (TypeError, ValueError) as exc:
            raise FeedError(f"EPSS CSV: {row}: {exc}") from exc
    return Parsed("epss", date, rows)
