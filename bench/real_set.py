"""The real development set (issue 18): labelled photographs from public GitHub repositories.

Every image is listed in ``bench/data/real_sources.tsv`` with the repository, its path there, the
git blob id of the file, the plate (canonical; empty for a scene without a readable plate), the
plate colour and kind, the group (``scene`` or ``crop``), tags (``ccpd``, ``night``, ``double_row``,
``hd`` = long side ≥ 1600 px, …), the part (``tune`` or ``frozen``) and how the label was obtained.
Only data files are taken from those repositories, never code.

Commands:

* ``build``: rebuild the image folder (default ``.data/real/``, git-ignored) from fetched
  repository snapshots (bare git directories, default ``/work/.mirror/<owner>+<name>/repo``; any
  ``git clone --mirror`` of the repository works with ``--mirror`` pointing at its parent layout).
  Each file is read by its blob id and its git hash is verified; a missing snapshot or blob is
  reported, never guessed.
* ``scan``: (re)write the TSV from the snapshots: plates from file names (CCPD index encoding,
  plate-named files), CCPD's "np" samples as scenes without a plate, colours and tags checked by
  eye (constants below) and ``bench/data/real_manual.tsv`` (labels read by eye). Run it only
  when adding sources; review the diff of the TSV.
* ``stats``: counts per group, colour, tag and part.

Split: ``frozen`` when the first 8 hex digits of ``sha1("ecogate-real:" + blob)`` modulo 10 are
below 3 (30 %), else ``tune``. Deterministic, independent of order; the frozen part is never used
for tuning (bench/alpr.py ``--real --part frozen`` only reports).

Label sources and checks are described in docs/vision.md ("Real development set").
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hj1321.plates import PlateColour, canonical_plate, is_valid_plate, parse_plate  # noqa: E402

TSV = ROOT / "bench" / "data" / "real_sources.tsv"
MANUAL = ROOT / "bench" / "data" / "real_manual.tsv"
DEFAULT_MIRROR = Path("/work/.mirror")
DEFAULT_OUT = ROOT / ".data" / "real"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FROZEN_SHARE = 3  # of 10

# CCPD file-name encoding (detectRecog/CCPD README): the fifth '-' field holds character indices.
CCPD_PROVINCES = "皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新警学"
CCPD_ALPHABETS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
CCPD_ADS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, slots=True)
class Source:
    repo: str
    path: str
    blob: str
    plate: str  # canonical, "" when the scene has no readable plate
    colour: str  # canonical colour name, "" when no plate
    kind: str  # hj1321.plates.PlateKind value, or "empty"
    group: str  # scene | crop
    tags: str  # comma-separated
    part: str  # tune | frozen
    label_from: str


COLUMNS = tuple(f.name for f in fields(Source))


def part_of(blob: str) -> str:
    digest = hashlib.sha1(f"ecogate-real:{blob}".encode()).hexdigest()
    return "frozen" if int(digest[:8], 16) % 10 < FROZEN_SHARE else "tune"


def git_dir(mirror: Path, repo: str) -> Path:
    return mirror / repo.replace("/", "+") / "repo"


def read_blob(gdir: Path, blob: str) -> bytes:
    out = subprocess.run(["git", "--git-dir", str(gdir), "cat-file", "blob", blob], capture_output=True, check=True)
    data = out.stdout
    header = f"blob {len(data)}\0".encode()
    if hashlib.sha1(header + data).hexdigest() != blob:
        raise ValueError(f"blob {blob} in {gdir}: content hash differs")
    return data


def load(path: Path = TSV) -> list[Source]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [Source(**{c: row[c] for c in COLUMNS}) for row in rows]


def file_name(src: Source) -> str:
    """Name of the image in the built folder: part/group/<blob[:10]>_<plate or 'empty'><suffix>."""
    suffix = Path(src.path).suffix.lower() or ".jpg"
    return f"{src.part}/{src.group}/{src.blob[:10]}_{src.plate or 'empty'}{suffix}"


# ---------------------------------------------------------------------------------------- scan


def decode_ccpd(name: str) -> str | None:
    """Plate of a CCPD file name (7 indices CCPD2019, 8 indices CCPD2020 green), or None."""
    parts = Path(name).stem.split("-")
    if len(parts) < 7:
        return None
    try:
        idx = [int(v) for v in parts[4].split("_")]
    except ValueError:
        return None
    if len(idx) not in (7, 8) or idx[0] >= len(CCPD_PROVINCES) or idx[1] >= len(CCPD_ALPHABETS):
        return None
    if any(i >= len(CCPD_ADS) for i in idx[2:]):
        return None
    return CCPD_PROVINCES[idx[0]] + CCPD_ALPHABETS[idx[1]] + "".join(CCPD_ADS[i] for i in idx[2:])


def _history(gdir: Path) -> dict[str, list[str]]:
    """blob → every path it had, over every commit reachable from HEAD (files deleted later included)."""
    revs = subprocess.run(
        ["git", "--git-dir", str(gdir), "rev-list", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.split()
    seen: dict[str, list[str]] = {}
    for rev in revs:
        out = subprocess.run(
            ["git", "-c", "core.quotepath=false", "--git-dir", str(gdir), "ls-tree", "-r", "-z", rev],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for entry in out.split("\0"):
            if not entry or "\t" not in entry:
                continue
            meta, path = entry.split("\t", 1)
            kind, blob = meta.split()[1:3]
            if kind == "blob" and path.lower().endswith(IMAGE_SUFFIXES) and path not in seen.get(blob, []):
                seen.setdefault(blob, []).append(path)
    return seen


def _kind_colour(plate: str, default_colour: str) -> tuple[str, str]:
    kind = parse_plate(plate).kind
    from hj1321.plates import KIND_COLOURS  # noqa: PLC0415

    colours = KIND_COLOURS[kind]
    colour = default_colour if PlateColour(default_colour) in colours else colours[0].value
    return kind.value, colour


def _image_size(gdir: Path, blob: str) -> tuple[int, int]:
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    img = cv2.imdecode(np.frombuffer(read_blob(gdir, blob), np.uint8), cv2.IMREAD_COLOR)
    return (0, 0) if img is None else (img.shape[1], img.shape[0])


# EasyPR's file names give the plate, not its colour: every EasyPR photograph was looked at (plate
# crops where our recognizer found the plate, whole frames otherwise; 2026-12-07) and these are the
# ones whose plate is yellow; the rest are blue. Also tagged by eye: night frames outside the
# 夜间 folder (dark, headlights on) and frames with several vehicles whose plates are visible.
EASYPR_YELLOW = frozenset(
    [
        "川W13930",
        "川A57237",
        "川R35779",
        "沪AP0910",
        "浙A03168",
        "浙A12210",
        "浙A12903",
        "浙A13840",
        "浙AA4586",
        "浙AC1847",
        "浙L11921",
        "浙L66736",
        "湘A97971",
        "皖A45277",
        "粤AA0825",
        "粤X30479",
        "苏BU5838",
        "苏DLA031",
        "苏E2Y256",
        "豫S33909",
        "辽PE9218",
        "皖A80003",
        "皖F71646",
        "皖M12288",
        "皖M69311",
        "粤A82349",
        "粤AB2893",
        "粤AK9331",
        "赣K11978",
    ]
)
EASYPR_NIGHT = frozenset(
    ["皖A2F560", "皖A80003", "皖BBC666", "皖F71646", "皖M69311", "皖Q19917", "皖Q80197", "皖QA2825"]
)
EASYPR_MULTI = frozenset(
    [
        "冀FA3215",
        "津E28437",
        "津JZ3999",
        "湘A05H22",
        "湘A07G31",
        "湘A0PQ76",
        "湘A2991D",
        "湘A3685C",
        "湘A9NU97",
        "皖Q18632",
    ]
)
#: Left out: the plate's colour cannot be told (京FK5358: a teal 7-character plate, white balance?).
EXCLUDED = frozenset({("liuruoze/EasyPR", "京FK5358")})

# Sources scanned by file name: repo → (path prefixes, rule, group, extra tags by folder).
EASYPR_TAGS = {"夜间": "night", "逆光": "backlight", "污损": "dirty", "大角度": "oblique"}
NAME_SOURCES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "sirius-ai/LPRNet_Pytorch": (("data/test/",), "name", "crop"),
    "liuruoze/EasyPR": (
        (
            "resources/image/general_test/",
            "resources/image/native_test/",
            "image/native_test/",
            "resources/image/extreme_test/夜间/",
            "resources/image/extreme_test/逆光/",
            "resources/image/extreme_test/污损/",
            "resources/image/extreme_test/大角度/",
            "resources/image/extreme_test/other/",
        ),
        "name",
        "scene",
    ),
    "HuKai97/YOLOv5-LPRNet-Licence-Recognition": (("demo/images/",), "ccpd", "scene"),
    "ZhijuCen/chinese-plate-recognition-ccpd-remaster": (("test_suite/ccpd_base/",), "ccpd", "scene"),
    "we0091234/Chinese_license_plate_detection_recognition": (("ccpd_yolo_test/",), "ccpd", "scene"),
    # CCPD's own samples: the "np" subset is, per the CCPD README, cars without a plate.
    "detectRecog/CCPD": (("sample/np/",), "empty", "scene"),
}


def scan(mirror: Path) -> list[Source]:
    manual: dict[tuple[str, str], dict[str, str]] = {}
    with MANUAL.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"):
            manual[(row["repo"], row["blob"])] = row
    out: list[Source] = []
    skipped: Counter[str] = Counter()
    for repo, (prefixes, rule, group) in NAME_SOURCES.items():
        gdir = git_dir(mirror, repo)
        history = _history(gdir)
        by_label: dict[str, Source] = {}
        ranked = sorted(
            ((min(paths, key=lambda p: _prefix_rank(p, prefixes)), blob, paths) for blob, paths in history.items()),
            key=lambda item: _prefix_rank(item[0], prefixes),
        )
        for path, blob, paths in ranked:
            if (repo, blob) in manual or not any(path.startswith(p) for p in prefixes):
                continue
            stem = Path(path).stem
            if rule == "empty":
                out.append(Source(repo, path, blob, "", "", "empty", group, "ccpd", part_of(blob), "CCPD np subset"))
                continue
            plate = decode_ccpd(Path(path).name) if rule == "ccpd" else canonical_plate(stem)
            if plate is None or not is_valid_plate(plate):
                skipped[f"{repo}: label not a valid plate"] += 1
                if plate is not None:
                    print(f"not a valid plate: {repo} {path}", file=sys.stderr)
                continue
            if (repo, plate) in EXCLUDED:
                skipped[f"{repo}: excluded (see EXCLUDED)"] += 1
                continue
            tags = ["ccpd"] if rule == "ccpd" else []
            if repo == "liuruoze/EasyPR":
                tags += ["night"] * (plate in EASYPR_NIGHT) + ["multi"] * (plate in EASYPR_MULTI)
            tags += [EASYPR_TAGS[f] for f in {p.split("/")[-2] for p in paths} if f in EASYPR_TAGS]
            if plate in by_label:  # the same photograph in several folders: keep one, join tags
                prev = by_label[plate]
                merged = ",".join(sorted(set(filter(None, prev.tags.split(","))) | set(tags)))
                by_label[plate] = Source(**{**_asdict(prev), "tags": merged})
                skipped[f"{repo}: same plate again (kept one)"] += 1
                continue
            default = "green" if len(plate) == 8 else "yellow" if plate in EASYPR_YELLOW else "blue"
            kind, colour = _kind_colour(plate, default)
            width, height = _image_size(gdir, blob)
            if max(width, height) >= 1600:
                tags.append("hd")
            by_label[plate] = Source(
                repo, path, blob, plate, colour, kind, group, ",".join(sorted(tags)), part_of(blob), rule
            )
        out.extend(by_label.values())
    for (repo, blob), row in manual.items():
        gdir = git_dir(mirror, repo)
        plate = canonical_plate(row["plate"]) if row["plate"] else ""
        if plate and not is_valid_plate(plate):
            raise SystemExit(f"manual label {plate!r} for {repo} {blob} is not a valid plate")
        kind = parse_plate(plate).kind.value if plate else "empty"
        tags = {t for t in row["tags"].split(",") if t}
        width, height = _image_size(gdir, blob)
        if max(width, height) >= 1600:
            tags.add("hd")
        out.append(
            Source(
                repo,
                row["path"],
                blob,
                plate,
                row["colour"] if plate else "",
                kind,
                row["group"],
                ",".join(sorted(tags)),
                part_of(blob),
                "eye",
            )
        )
    unique: dict[str, Source] = {}
    for src in out:  # the same file committed to several repositories: listed once
        if src.blob in unique:
            skipped[f"{src.repo}: same blob as in {unique[src.blob].repo}"] += 1
            continue
        unique[src.blob] = src
    out = list(unique.values())
    for reason, n in sorted(skipped.items()):
        print(f"skipped {n}: {reason}", file=sys.stderr)
    return sorted(out, key=lambda s: (s.repo, s.path))


def _prefix_rank(path: str, prefixes: tuple[str, ...]) -> tuple[int, str]:
    for i, p in enumerate(prefixes):
        if path.startswith(p):
            return i, path
    return len(prefixes), path


def _asdict(src: Source) -> dict[str, str]:
    return {c: getattr(src, c) for c in COLUMNS}


def write(sources: list[Source], path: Path = TSV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for s in sources:
            writer.writerow([getattr(s, c) for c in COLUMNS])


# --------------------------------------------------------------------------------------- build


def build(mirror: Path, out: Path) -> int:
    sources = load()
    missing: Counter[str] = Counter()
    written = 0
    for src in sources:
        gdir = git_dir(mirror, src.repo)
        if not gdir.exists():
            missing[f"snapshot {src.repo} not at {gdir}"] += 1
            continue
        target = out / file_name(src)
        if target.exists():
            data = target.read_bytes()
            if hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest() == src.blob:
                written += 1
                continue
        try:
            data = read_blob(gdir, src.blob)
        except (subprocess.CalledProcessError, ValueError) as exc:
            missing[f"{src.repo}: {exc}"] += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written += 1
    print(f"{written} of {len(sources)} images in {out} (blob ids verified)")
    for reason, n in missing.items():
        print(f"MISSING {n}: {reason}", file=sys.stderr)
    return 1 if missing else 0


def stats() -> None:
    sources = load()
    print(f"{len(sources)} images")
    for name, key in (
        ("group", lambda s: s.group),
        ("group/colour", lambda s: f"{s.group}/{s.colour or 'empty'}"),
        ("kind", lambda s: s.kind),
        ("part", lambda s: s.part),
        ("repo", lambda s: s.repo),
    ):
        print(f"by {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(map(key, sources)).items())))
    tags: Counter[str] = Counter(t for s in sources for t in s.tags.split(",") if t)
    print("by tag: " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "scan", "stats"))
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="folder of fetched snapshots")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="image folder to build")
    args = parser.parse_args()
    if args.command == "scan":
        sources = scan(args.mirror)
        write(sources)
        stats()
        return 0
    if args.command == "stats":
        stats()
        return 0
    return build(args.mirror, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
