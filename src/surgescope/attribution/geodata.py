"""The shipped range tables (IP -> AS number and owner, IP -> country) and how they are rebuilt.

Sources (fetched with the ordinary npm client, no Node code runs: ``npm pack`` only downloads
the tarball):

- ``@ip-location-db/asn``: IP ranges -> AS number and organisation, merged by ip-location-db
  from RouteViews, the five RIRs (NRO statistics) and DB-IP's IP-to-ASN Lite; CC BY 4.0.
- ``@ip-location-db/geo-whois-asn-country``: IP ranges -> country from geofeeds, WHOIS and
  AS data; the package says CC0-1.0 while its README credits NRO's CC BY 4.0 data, so we give
  the NRO attribution as well.

- optionally IPFire's location database as converted for Tor by Debian's ``tor-geoipdb``
  package (``apt-get download`` + unpacking, the tor daemon is not installed): a third, independent
  country opinion; CC BY-SA 4.0.

The build turns the CSV ranges into compact sorted arrays in one compressed ``.npz`` per
source (IPv4 starts/ends as ``uint32``, IPv6 as two ``uint64`` halves; adjacent ranges with
the same value merged; organisation names deduplicated into one string table keyed by ASN;
countries as two ASCII bytes) and a ``METADATA.json`` with source, licence, attribution and data
date. :mod:`surgescope.attribution.enrich` looks them up with ``numpy.searchsorted``.

``surgescope geo update`` calls :func:`update`.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "geo"

PACKAGES = {
    "asn": "@ip-location-db/asn",
    "country": "@ip-location-db/geo-whois-asn-country",
}

ATTRIBUTION = {
    "asn": (
        "AS data: ip-location-db 'asn' table (github.com/sapics/ip-location-db), made from "
        "RouteViews (routeviews.org, CC BY 4.0), the NRO/RIR statistics (nro.net, CC BY 4.0) and "
        "the IP to ASN Lite database by DB-IP (db-ip.com, CC BY 4.0). IP Geolocation by DB-IP. "
        "Converted to range arrays by surgescope (merged adjacent ranges; one organisation name "
        "per AS, the most frequent)."
    ),
    "country": (
        "Country data: ip-location-db 'geo-whois-asn-country' table "
        "(github.com/sapics/ip-location-db; package licence CC0-1.0), built from geofeeds, WHOIS "
        "and AS data including NRO statistics (nro.net, CC BY 4.0). Converted to range arrays by "
        "surgescope."
    ),
}
LICENCES = {"asn": "CC-BY-4.0", "country": "CC0-1.0 (NRO data within: CC-BY-4.0)"}

U64 = (1 << 64) - 1


class GeoDataError(ValueError):
    """Missing or malformed geo data (a ValueError so the CLI reports it in one line)."""


# --------------------------------------------------------------------------- fetching


def fetch(workdir: Path) -> dict[str, Path]:
    """``npm pack`` both packages into ``workdir`` and unpack them; returns name -> package dir."""
    npm = shutil.which("npm")
    if npm is None:
        raise GeoDataError("npm is not installed: pass --source-dir with the downloaded tarballs")
    out = {}
    for pkg in PACKAGES.values():
        r = subprocess.run(
            [npm, "pack", pkg, "--silent", "--pack-destination", str(workdir)],
            cwd=workdir, capture_output=True, text=True, timeout=600, check=False,
        )
        if r.returncode != 0:
            raise GeoDataError(f"npm pack {pkg} failed: {r.stderr.strip().splitlines()[-1:]}")
    for name in PACKAGES:
        out[name] = _unpack(_find_tarball(workdir, name), workdir / name)
    return out


def _find_tarball(d: Path, name: str) -> Path:
    prefix = {"asn": "ip-location-db-asn-", "country": "ip-location-db-geo-whois-asn-country-"}[name]
    hits = sorted(d.glob(prefix + "*.tgz"))
    if not hits:
        raise GeoDataError(f"{d}: no {prefix}*.tgz")
    return hits[-1]


def _unpack(tgz: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tf:
        tf.extractall(dest, filter="data")  # 'data' filter: no absolute paths, links or devices
    return dest / "package"


def _locate(source_dir: Path) -> dict[str, Path]:
    """Package dirs from a folder holding the tarballs or their unpacked ``package/`` dirs."""
    out = {}
    for name in PACKAGES:
        csv_name = {"asn": "asn-ipv4-num.csv", "country": "geo-whois-asn-country-ipv4-num.csv"}[name]
        found = sorted(source_dir.rglob(csv_name))
        if found:
            out[name] = found[0].parent
        else:
            out[name] = _unpack(_find_tarball(source_dir, name), source_dir / f"_{name}")
    return out


# --------------------------------------------------------------------------- building


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [r for r in csv.reader(f) if r]


def _flatten(start: list[int], end: list[int], value: list) -> tuple[list[int], list[int], list]:
    """Disjoint ranges: where source ranges overlap, the narrowest one wins.

    The sources nest ranges (a geofeed's /29 inside a WHOIS /22) and, rarely, overlap them;
    a lookup by ``searchsorted`` needs sorted, disjoint ranges. A sweep over every boundary
    with a heap of the open ranges (narrowest first) cuts them into elementary pieces.
    """
    import heapq

    order = sorted(range(len(start)), key=lambda i: (start[i], end[i]))
    bounds = sorted({start[i] for i in order} | {end[i] + 1 for i in order})
    heap: list[tuple[int, int]] = []
    s_out: list[int] = []
    e_out: list[int] = []
    v_out: list = []
    k = 0
    for b, nxt in zip(bounds, bounds[1:], strict=False):
        while k < len(order) and start[order[k]] <= b:
            i = order[k]
            heapq.heappush(heap, (end[i] - start[i], i))
            k += 1
        while heap and end[heap[0][1]] < b:
            heapq.heappop(heap)
        if heap:
            s_out.append(b)
            e_out.append(nxt - 1)
            v_out.append(value[heap[0][1]])
    return s_out, e_out, v_out


def _merge(start: list[int], end: list[int], value: list) -> tuple[list[int], list[int], list]:
    """Disjoint sorted ranges (:func:`_flatten`) with touching equal-valued ones joined."""
    start, end, value = _flatten(start, end, value)
    s_out: list[int] = []
    e_out: list[int] = []
    v_out: list = []
    for s, e, v in zip(start, end, value, strict=True):
        if s_out and v_out[-1] == v and e_out[-1] + 1 == s:
            e_out[-1] = e
        else:
            s_out.append(s)
            e_out.append(e)
            v_out.append(v)
    return s_out, e_out, v_out


def _split128(xs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([x >> 64 for x in xs], dtype=np.uint64),
        np.array([x & U64 for x in xs], dtype=np.uint64),
    )


def _cc_codes(ccs: list[str]) -> np.ndarray:
    """Two ASCII letters as one ``uint16`` (first letter in the high byte); 0 for none."""
    return np.array([(ord(c[0]) << 8) | ord(c[1]) if len(c) == 2 else 0 for c in ccs], dtype=np.uint16)


def build_asn(pkg: Path, out: Path) -> dict:
    arrays: dict[str, np.ndarray] = {}
    org_votes: dict[int, dict[str, int]] = {}
    counts = {}
    for fam in ("ipv4", "ipv6"):
        rows = _read_rows(pkg / f"asn-{fam}-num.csv")
        counts[f"{fam}_source_rows"] = len(rows)
        s = [int(r[0]) for r in rows]
        e = [int(r[1]) for r in rows]
        a = [int(r[2]) for r in rows]
        for r in rows:
            votes = org_votes.setdefault(int(r[2]), {})
            name = r[3] if len(r) > 3 else ""
            votes[name] = votes.get(name, 0) + 1
        s, e, a = _merge(s, e, a)
        counts[f"{fam}_ranges"] = len(s)
        if fam == "ipv4":
            arrays["v4_start"] = np.array(s, dtype=np.uint32)
            arrays["v4_end"] = np.array(e, dtype=np.uint32)
            arrays["v4_asn"] = np.array(a, dtype=np.uint32)
        else:
            arrays["v6_start_hi"], arrays["v6_start_lo"] = _split128(s)
            arrays["v6_end_hi"], arrays["v6_end_lo"] = _split128(e)
            arrays["v6_asn"] = np.array(a, dtype=np.uint32)
    asns = sorted(org_votes)
    names = [max(org_votes[n].items(), key=lambda kv: (kv[1], kv[0]))[0] for n in asns]
    # Names in order of first use by ascending ASN, so org_idx is nearly 0, 1, 2, ... and its
    # deltas compress to almost nothing.
    table = list(dict.fromkeys(names))
    index = {n: i for i, n in enumerate(table)}
    arrays["org_asn"] = np.array(asns, dtype=np.uint32)
    arrays["org_idx"] = np.array([index[n] for n in names], dtype=np.uint32)
    arrays["org_names"] = np.frombuffer("\n".join(table).encode("utf-8"), dtype=np.uint8)
    counts["asns"] = len(asns)
    counts["org_names"] = len(table)
    _save(out / "asn.npz", arrays)
    return counts


def build_country(pkg: Path, out: Path) -> dict:
    arrays: dict[str, np.ndarray] = {}
    counts = {}
    for fam in ("ipv4", "ipv6"):
        rows = _read_rows(pkg / f"geo-whois-asn-country-{fam}-num.csv")
        counts[f"{fam}_source_rows"] = len(rows)
        s, e, c = _merge([int(r[0]) for r in rows], [int(r[1]) for r in rows], [r[2] for r in rows])
        counts[f"{fam}_ranges"] = len(s)
        arrays.update(_country_arrays(fam, s, e, c))
    _save(out / "country.npz", arrays)
    return counts


def _country_arrays(fam: str, starts: list[int], ends: list[int], codes: list[str]) -> dict[str, np.ndarray]:
    """The arrays of one family of a country range table (both country tables share the layout)."""
    if fam == "ipv4":
        return {"v4_start": np.array(starts, dtype=np.uint32), "v4_end": np.array(ends, dtype=np.uint32),
                "v4_cc": _cc_codes(codes)}
    (start_hi, start_lo), (end_hi, end_lo) = _split128(starts), _split128(ends)
    return {"v6_start_hi": start_hi, "v6_start_lo": start_lo, "v6_end_hi": end_hi, "v6_end_lo": end_lo,
            "v6_cc": _cc_codes(codes)}


def _encode(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Delta-code sorted starts and store ends as lengths: the same data, half the bytes.

    Unsigned arithmetic wraps, so decoding with a cumulative sum of the same dtype is exact.
    """
    out = dict(arrays)
    for k, a in arrays.items():
        if k.endswith(("_start", "_start_hi")):
            out[k] = np.diff(a, prepend=a.dtype.type(0))
        elif k.endswith(("_end", "_end_hi")):
            out[k] = a - arrays[k.replace("_end", "_start")]
        elif k == "org_idx":
            out[k] = np.diff(a, prepend=a.dtype.type(0))
    return out


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez_compressed(path, **_encode(arrays))


IPFIRE_ATTRIBUTION = (
    "Country data: IPFire Location database (location.ipfire.org, IPFire Project), as exported for "
    "Tor by Debian's tor-geoipdb package; licence CC BY-SA 4.0. Converted to range arrays by "
    "surgescope; this derived table is shared under the same licence. Regional codes (EU, AP) and "
    "unknowns (??) are left without a country."
)
NOT_COUNTRIES = {"??", "EU", "AP", "A1", "A2", "O1"}


def fetch_ipfire(workdir: Path) -> Path | None:
    """``apt-get download tor-geoipdb`` and unpack it; the folder holding geoip/geoip6, or None."""
    apt = shutil.which("apt-get")
    if apt is None:
        return None
    r = subprocess.run([apt, "download", "tor-geoipdb"], cwd=workdir, capture_output=True, text=True,
                       timeout=600, check=False)
    debs = sorted(workdir.glob("tor-geoipdb*.deb"))
    if r.returncode != 0 or not debs:
        return None
    return _unpack_deb(debs[-1], workdir / "tor-geoipdb")


def _unpack_deb(deb: Path, dest: Path) -> Path | None:
    dpkg = shutil.which("dpkg-deb")
    if dpkg is None:
        return None
    subprocess.run([dpkg, "-x", str(deb), str(dest)], check=True, timeout=300)
    found = sorted(dest.rglob("geoip"))
    return found[0].parent if found else None


def _locate_ipfire(source_dir: Path) -> Path | None:
    found = [p for p in sorted(source_dir.rglob("geoip")) if (p.parent / "geoip6").is_file()]
    if found:
        return found[0].parent
    debs = sorted(source_dir.glob("tor-geoipdb*.deb"))
    return _unpack_deb(debs[-1], source_dir / "_tor-geoipdb") if debs else None


def _tor_rows(path: Path, v6: bool) -> tuple[list[int], list[int], list[str], str]:
    """(starts, ends, countries, generated date) of a Tor geoip/geoip6 file."""
    import ipaddress

    starts, ends, ccs, generated = [], [], [], "unknown"
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                if line.startswith("# Generated:"):
                    try:
                        generated = datetime.strptime(line.split(":", 1)[1].strip()[:16], "%a, %d %b %Y").date().isoformat()
                    except ValueError:
                        pass
                continue
            parts = line.strip().split(",")
            if len(parts) != 3:
                continue
            a, b, cc = parts
            if v6:
                starts.append(int(ipaddress.IPv6Address(a)))
                ends.append(int(ipaddress.IPv6Address(b)))
            else:
                starts.append(int(a))
                ends.append(int(b))
            ccs.append("" if cc in NOT_COUNTRIES else cc)
    return starts, ends, ccs, generated


def build_ipfire(tor_dir: Path, out: Path) -> dict:
    arrays: dict[str, np.ndarray] = {}
    counts: dict = {}
    for fam, name in (("ipv4", "geoip"), ("ipv6", "geoip6")):
        st, en, cc, generated = _tor_rows(tor_dir / name, fam == "ipv6")
        counts[f"{fam}_source_rows"] = len(st)
        if generated != "unknown" or "data_date" not in counts:
            counts["data_date"] = generated
        keep = [i for i, c in enumerate(cc) if c]
        st, en, cc = _merge([st[i] for i in keep], [en[i] for i in keep], [cc[i] for i in keep])
        counts[f"{fam}_ranges"] = len(st)
        arrays.update(_country_arrays(fam, st, en, cc))
    _save(out / "ipfire.npz", arrays)
    return counts


def _deb_version(tor_dir: Path) -> str:
    changelog = next(iter(sorted(tor_dir.parents[2].rglob("changelog.Debian.gz"))), None) if len(tor_dir.parents) > 2 else None
    if changelog is None:
        return "unknown"
    import gzip

    first = gzip.open(changelog, "rt").readline()
    return first.split("(", 1)[1].split(")", 1)[0] if "(" in first else "unknown"


def _version(pkg: Path) -> str:
    return json.loads((pkg / "package.json").read_text())["version"]


def _data_date(version: str) -> str:
    """ip-location-db versions end in YYYYMMDDHH (e.g. 2.3.2026061719 -> 2026-06-17)."""
    stamp = version.rsplit(".", 1)[-1]
    try:
        return datetime.strptime(stamp[:8], "%Y%m%d").date().isoformat()
    except ValueError:
        return "unknown"


def build(packages: dict[str, Path | None], out: Path = DATA_DIR) -> dict:
    """Build ``asn.npz``, ``country.npz`` (and ``ipfire.npz`` when ``packages["ipfire"]`` is
    given) and ``METADATA.json`` in ``out`` from unpacked packages."""
    out.mkdir(parents=True, exist_ok=True)
    meta: dict = {"built_at": datetime.now(UTC).isoformat(timespec="seconds"), "tables": {}}
    for name, builder in (("asn", build_asn), ("country", build_country)):
        pkg = packages[name]
        version = _version(pkg)
        counts = builder(pkg, out)
        meta["tables"][name] = {
            "file": f"{name}.npz",
            "source": f"npm {PACKAGES[name]}@{version}",
            "url": "https://github.com/sapics/ip-location-db",
            "licence": LICENCES[name],
            "attribution": ATTRIBUTION[name],
            "data_date": _data_date(version),
            "bytes": (out / f"{name}.npz").stat().st_size,
            **counts,
        }
    tor_dir = packages.get("ipfire")
    if tor_dir is not None:
        counts = build_ipfire(tor_dir, out)
        meta["tables"]["ipfire"] = {
            "file": "ipfire.npz",
            "source": f"Debian tor-geoipdb {_deb_version(tor_dir)} (IPFire Location database)",
            "url": "https://location.ipfire.org/",
            "licence": "CC-BY-SA-4.0",
            "attribution": IPFIRE_ATTRIBUTION,
            "bytes": (out / "ipfire.npz").stat().st_size,
            **counts,
        }
    (out / "METADATA.json").write_text(json.dumps(meta, indent=2) + "\n")
    load.cache_clear()
    metadata.cache_clear()
    _org_names.cache_clear()
    org_index.cache_clear()
    return meta


def update(source_dir: str | Path | None = None, out: Path = DATA_DIR) -> dict:
    """Rebuild the shipped tables: fetch with npm and apt (or use ``source_dir``), then :func:`build`.

    ``source_dir`` may hold the npm tarballs (or their unpacked ``package/`` folders) and,
    optionally, ``tor-geoipdb*.deb`` or its unpacked ``geoip``/``geoip6`` files.
    """
    if source_dir is not None:
        src = Path(source_dir)
        if not src.is_dir():
            raise GeoDataError(f"{src}: not a directory")
        return build({**_locate(src), "ipfire": _locate_ipfire(src)}, out)
    with tempfile.TemporaryDirectory(prefix="surgescope-geo-") as tmp:
        # IPFire is optional: without apt (or offline) the two ip-location-db tables still build
        return build({**fetch(Path(tmp)), "ipfire": fetch_ipfire(Path(tmp))}, out)


# --------------------------------------------------------------------------- loading


class Table(Mapping[str, np.ndarray]):
    """The arrays of one table file, each read and decoded the first time it is used.

    Why lazy: a lookup of IPv4 addresses reads the IPv4 ranges and values only; the IPv6
    arrays are about half of each file's decompression (measured: 0.15 CPU-s for all three
    tables, ~0.07 of it IPv6), and a log of IPv4 clients never needs them. Thread-safe, so a
    background preload and the lookups can share it; each array is decoded once and keeps
    its identity (``enrich.block_table`` is cached by the ``v4_start`` array's id).
    """

    def __init__(self, path: Path):
        self._path = path
        self._arrays: dict[str, np.ndarray] = {}
        self._lock = threading.RLock()
        with np.load(path) as z:
            self._files = tuple(z.files)

    def __getitem__(self, key: str) -> np.ndarray:
        a = self._arrays.get(key)
        if a is not None:
            return a
        if key not in self._files:
            raise KeyError(key)
        with self._lock:
            if key not in self._arrays:
                self._arrays[key] = self._read(key)
            return self._arrays[key]

    def _read(self, key: str) -> np.ndarray:
        """One array decoded (undoing :func:`_encode`: cumulative sums of the deltas; an end
        is its start plus the stored length, so the start is decoded first)."""
        with np.load(self._path) as z:
            raw = z[key]
        if key.endswith(("_start", "_start_hi")) or key == "org_idx":
            return np.cumsum(raw, dtype=raw.dtype)
        if key.endswith(("_end", "_end_hi")):
            return (raw + self[key.replace("_end", "_start")]).astype(raw.dtype)
        return raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


@cache
def load(kind: str, data_dir: Path = DATA_DIR) -> Table:
    """The arrays of one table (``asn``, ``country`` or ``ipfire``), opened once per process;
    each array is read on first use (see :class:`Table`)."""
    path = data_dir / f"{kind}.npz"
    if not path.is_file():
        raise GeoDataError(f"{path} is missing: run `surgescope geo update`")
    return Table(path)


PRELOADED = ("v4_start", "v4_end", "v4_asn", "v4_cc", "org_asn", "org_idx", "org_names")
"""What :func:`preload` reads: the IPv4 lookups and the AS owners, which every input with
IPv4 sources uses. IPv6 arrays are read when an IPv6 address is looked up."""


def preload() -> None:
    """Read the IPv4 arrays of every shipped table now (about 0.1 s of decompression), e.g.
    on a background thread while the inputs are read; the lookups then find them read
    (:func:`load` is called with the same arguments as the lookups call it: the cache is keyed
    by them)."""
    for kind in ("asn", "country", "ipfire"):
        if (DATA_DIR / f"{kind}.npz").is_file():
            t = load(kind)
            for key in PRELOADED:
                if key in t:
                    t[key]
    org_index()


@cache
def metadata(data_dir: Path = DATA_DIR) -> dict:
    path = data_dir / "METADATA.json"
    return json.loads(path.read_text()) if path.is_file() else {"tables": {}}


def org_names(data_dir: Path = DATA_DIR) -> list[str]:
    """Every AS owner name (in ``org_idx`` order)."""
    return _org_names(data_dir)


@cache
def _org_names(data_dir: Path) -> list[str]:
    return bytes(load("asn", data_dir)["org_names"]).decode("utf-8").split("\n")


@cache
def org_index(data_dir: Path = DATA_DIR) -> np.ndarray:
    """Where each owner name starts in the ``org_names`` bytes, plus one past the end.

    Lookups decode only the names they return (:func:`org_name_strings`): all 80 k names as
    Python strings cost ~0.05 CPU-s, most of them never used."""
    blob = load("asn", data_dir)["org_names"]
    return np.concatenate([[0], np.flatnonzero(blob == ord("\n")) + 1, [len(blob) + 1]])


def org_name_strings(idx: np.ndarray, data_dir: Path = DATA_DIR) -> list[str]:
    """The owner names of some ``org_idx`` values (any order, repeats allowed)."""
    blob = load("asn", data_dir)["org_names"]
    bounds = org_index(data_dir)
    idx = np.asarray(idx, dtype=np.int64)
    return [bytes(blob[s:e]).decode("utf-8") for s, e in zip(bounds[idx].tolist(), (bounds[idx + 1] - 1).tolist(), strict=True)]
