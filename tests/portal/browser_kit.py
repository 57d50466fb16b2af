"""What every portal browser test shares: Debian's Chromium and its flags, loading conftests, timings, screenshots."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium")
#: PLATFORM-NOTES.md: without the background-networking flags Chromium's connections are refused by the
#: machine's closed network, many at a time.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def load(name: str, path: Path) -> Any:
    """Import ``path`` as module ``name`` (conftests of other test folders, for their fixtures)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def first_render_ms(page: Any) -> float:
    """DOMContentLoaded of the page's navigation, in milliseconds (reported, never asserted)."""
    value = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n ? n.domContentLoadedEventEnd - n.startTime : -1; }"
    )
    return round(float(value), 1)


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into ``docs/screenshots/NAME.png``; the pages seen so far pass the raw-code scan."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    scan = _SCANS.get(id(page.context))
    if scan is not None:
        scan.assert_clean()


@contextmanager
def running_cloud(sync_conftest: Any, db_urls: Any, tmp_path: Path) -> Iterator[Any]:
    """The cloud as a real uvicorn process (``CloudProcess`` of tests/sync/conftest.py), stopped afterwards."""
    proc = sync_conftest.CloudProcess(db_urls, tmp_path / "cloud" / "blobs", tmp_path / "cloud.log")
    proc.blob_root.mkdir(parents=True)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


# Raw-code scan (issue 19 item 2) -------------------------------------------------------------------------------
#
# Every page a walk visits (an init script posts each document's visible text to the test through an exposed
# binding, so no page is missed and no navigation races the read) and every export it downloads is searched for
# Latin-letter tokens. A token passes when it is a plate, a VIN, inside an element marked translate="no" (the
# code columns: logins, enrollment codes, identifiers people type; the portal's ``|ident`` filter, or the value of
# such an element repeated in an attribute of its page), a unit, or one of the few terms below; any
# other token (``yellow``, ``weighing_missing``, ``REGULATION.md``, ``[I]``, an English error) fails the walk.

#: Terms a Chinese page legitimately shows in Latin letters. Keep it short and explicit.
ALLOWED_TERMS: frozenset[str] = frozenset(
    {
        "EcoGate",  # the product's name
        "VIN",
        "Excel",
        "JPEG",  # file formats people pick in an upload dialog
        "PNG",
        "WebP",
        "CSV",
        "PDF",
        "ID",
        "IP",
        "QR",
        "ROI",  # 识别区域 (ROI) on the lane page
        "HJ",  # standard numbers: HJ 1321-2023
        "GB",
        # units
        "kg",
        "t",
        "km",
        "h",
        "s",
        "ms",
        "MB",
        "KB",
        "fps",
        "px",
        # performance grades (绩效分级 A / B / B- / C / D), a code table of their own
        "A",
        "B",
        "C",
        "D",
    }
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_PLATE = re.compile(rf"[{_PROVINCES}][A-Z][A-Z0-9]{{4,6}}[挂学警港澳]?")
_VIN = re.compile(r"\b[A-HJ-NPR-Z0-9]{17}\b")
#: 统一社会信用代码 (GB 32100): 18 characters, digits and capitals without I, O, Z, S, V (loose: test tenants').
_USCC = re.compile(r"\b[0-9]{2}[0-9A-HJ-NPQRTUWXY]{16}\b")
_CODE_HEADERS = ("编号", "编码", "代码")
#: Model and serial numbers (东风天龙 DFH4250, 出入口 G1): capitals then a digit — a code, never a word.
_MODEL = re.compile(r"[A-Z]+[0-9][A-Z0-9]*(?:-[A-Z0-9]+)*")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[.\-][A-Za-z0-9_]+)*")
#: Internal marks that are never Latin-free but must never reach a page: section signs and bracketed source tags.
_INTERNAL = re.compile(r"§|\[[A-Z]{1,2}\]")
_QUOTED = re.compile(r"“[^”\n]{0,80}”")
_SCAN_JS = """
(() => {
  const post = () => {
    if (!document.body || !window.__ecogateScan) { return; }
    const copy = document.body.cloneNode(true);
    const idents = Array.from(copy.querySelectorAll('[translate="no"]')).map((e) => e.textContent.trim());
    copy.querySelectorAll('[translate="no"], script, style, noscript').forEach((e) => e.remove());
    const attrs = [];
    copy.querySelectorAll('[placeholder], [title], [aria-label], img[alt]').forEach((e) => {
      for (const name of ['placeholder', 'title', 'aria-label', 'alt']) {
        if (e.getAttribute(name)) { attrs.push(e.getAttribute(name)); }
      }
    });
    copy.querySelectorAll('option, input[type="submit"], button')
      .forEach((e) => attrs.push(e.textContent || e.value || ''));
    const host = document.createElement('div');
    host.style.position = 'absolute'; host.style.left = '-99999px';
    host.appendChild(copy);
    document.documentElement.appendChild(host);
    const text = copy.innerText;
    host.remove();
    const all = document.title + '\\n' + text + '\\n' + attrs.join('\\n');
    window.__ecogateScan(location.pathname + location.search, all, idents.filter((t) => t));
  };
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', post); } else { post(); }
})();
"""


def raw_codes(text: str) -> list[str]:
    """The Latin tokens (and internal marks) of ``text`` that are not a plate, VIN, unit or allowed term.

    Text in Chinese quotes (“…”) is what the person typed, echoed by an error message; it is not scanned.
    Each finding carries a few characters around it, so the failing page is easy to find.
    """
    text = _QUOTED.sub(" ", _UUID.sub(" ", _USCC.sub(" ", _VIN.sub(" ", _PLATE.sub(" ", text)))))
    found = list(_INTERNAL.finditer(text))
    found += [m for m in _TOKEN.finditer(text) if m.group(0) not in ALLOWED_TERMS and not _MODEL.fullmatch(m.group(0))]
    return [f"{m.group(0)} ‹{text[max(0, m.start() - 12) : m.end() + 12]}›".replace("\n", " ") for m in found]


class RawCodeScan:
    """What the pages and exports of one walk showed in Latin letters (see :func:`watch`)."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.pages: list[str] = []
        self.findings: dict[str, list[str]] = {}

    def add(self, where: str, text: str, idents: list[str] | None = None) -> None:
        """Scan one page's text or one export's cells; ``idents`` are the page's translate="no" values.

        An identifier shown in a code column may also appear in an attribute of the same page (a button's
        ``aria-label="停用 zhang.san"``): its occurrences are taken out of the text before the scan.
        """
        self.pages.append(where)
        for ident in sorted(idents or (), key=len, reverse=True):
            text = text.replace(ident, " ")
        bad = raw_codes(text)
        if bad:
            self.findings.setdefault(where, []).extend(sorted(set(bad)))

    def export(self, name: str, data: bytes) -> None:
        """Scan a downloaded export, an Excel workbook or a CSV file: every cell but those of code columns.

        A code column is one whose header ends in 编号 / 编码 / 代码 (出入口编号, 车道编号: ``G1``, ``L1``); the
        header row is the first with three or more text cells.
        """
        rows: list[list[Any]]
        if name.endswith(".xlsx"):
            from openpyxl import load_workbook  # noqa: PLC0415

            book = load_workbook(io.BytesIO(data), read_only=True)
            rows = [list(row) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]
        elif name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        else:
            raise AssertionError(f"the raw-code scan reads Excel and CSV exports, not {name}")
        codes: set[int] = set()
        cells: list[str] = []
        for row in rows:
            texts = [value for value in row if isinstance(value, str) and value]
            if not codes and len(texts) >= 3:
                codes = {i for i, v in enumerate(row) if isinstance(v, str) and v.endswith(_CODE_HEADERS)}
                codes = codes or {-1}
            cells += [v for i, v in enumerate(row) if isinstance(v, str) and i not in codes]
        self.add(name, "\n".join(cells))

    def assert_clean(self) -> None:
        """Fail the walk on any raw code seen so far (page or export → its tokens)."""
        assert self.pages, "the raw-code scan saw no page"
        assert not self.findings, f"raw codes on pages/exports: {self.findings}"


#: Where each context's scan is kept, so :func:`shot` can check the pages seen up to each screenshot.
_SCANS: dict[int, RawCodeScan] = {}


def watch(context: Any) -> RawCodeScan:
    """Scan every page ``context`` opens from now on (call right after ``browser.new_context``)."""
    scan = RawCodeScan()
    context.expose_binding("__ecogateScan", lambda _source, where, text, idents: scan.add(where, text, idents))
    context.add_init_script(script=_SCAN_JS)
    _SCANS[id(context)] = scan
    return scan


def scan_of(page: Any) -> RawCodeScan:
    """The raw-code scan of ``page``'s context (for a walk's downloads: ``scan_of(page).export(name, data)``)."""
    return _SCANS[id(page.context)]


#: Screenshots that are test artefacts, not documentation (build/ is ignored by git).
ARTEFACTS = ROOT / "build" / "test-artefacts"


def artefact(page: Any, name: str) -> Path:
    """A viewport screenshot into ``build/test-artefacts/NAME.png`` (the pages seen so far pass the raw-code scan)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    scan = _SCANS.get(id(page.context))
    if scan is not None:
        scan.assert_clean()
    return path
