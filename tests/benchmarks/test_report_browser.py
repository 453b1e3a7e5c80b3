"""report.html in a real headless Chromium: every plot image decodes at its stated size, the page needs no
sideways scrolling at 1280 px, and the screenshot shows the plots' colours (not a blank or broken page)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fastip.benchmarks.report import write_report
from tests.benchmarks.test_result import make_report, make_row

WIDTH, HEIGHT = 1280, 2000
TIMEOUT_S = 90
INSTALL = "apt-get update && apt-get install -y chromium"
# After the load event, write each <img>'s decoded size and the page's scroll width where --dump-dom shows them.
PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.width, i.height]);
  document.body.setAttribute('data-probe', JSON.stringify({imgs, scrollWidth: document.documentElement.scrollWidth}));
});</script>"""


def chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)


pytestmark = [pytest.mark.skipif(chromium() is None, reason=f"needs Chromium: {INSTALL}")]


def run_chromium(args: list[str], profile: Path) -> str:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Chromium did not finish within {TIMEOUT_S} s: {' '.join(command)}")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    pytest.importorskip("matplotlib")
    base = make_report()
    rows = [make_row(backend=b, requests=r, throughput=90.0 * r) for b in ("ort", "openvino") for r in (1, 2)]
    report = replace(base, results=(*rows, *base.results[1:]))
    out = tmp_path_factory.mktemp("browser") / "report"
    write_report(report, out)
    return out


def test_plot_images_decode_and_page_fits(report_dir, tmp_path):
    from html.parser import HTMLParser

    page = (report_dir / "report.html").read_text(encoding="utf-8")
    probe = report_dir / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(["--dump-dom", "--virtual-time-budget=10000", probe.as_uri()], tmp_path / "profile")

    found: dict = {}

    class Body(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "body":
                found.update(json.loads(dict(attrs).get("data-probe", "{}")))

    Body().feed(dom)
    assert found, "the load event never fired (no data-probe on <body>)"
    stated = [(int(a["width"]), int(a["height"])) for a in _img_attrs(page)]
    assert len(found["imgs"]) == len(stated) == 2
    for (complete, nat_w, nat_h, shown_w, _), (w, h) in zip(found["imgs"], stated):
        assert complete and (nat_w, nat_h) == (w, h)  # the PNG decoded, at the size the page states
        assert shown_w >= min(w, WIDTH - 100)  # not shrunk to a thumbnail
    assert found["scrollWidth"] <= WIDTH  # wide tables scroll inside their box, the page does not


def test_screenshot_shows_the_plots(report_dir, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    run_chromium([f"--screenshot={shot}", (report_dir / "report.html").as_uri()], tmp_path / "profile")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert pixels.std() > 20  # not a blank page
    top = pixels[: HEIGHT // 2]
    # matplotlib's first two colours (the two backends' bars and points) only come from the plot images.
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(top - rgb).max(axis=2) < 12).sum() > 2000, f"no plot colour {rgb} in the upper half"
    text_columns = np.nonzero((pixels[: HEIGHT // 4] < 100).all(axis=2).any(axis=0))[0]
    assert text_columns.min() < 60  # headings and tables start at the left margin


def _img_attrs(page: str) -> list[dict]:
    from html.parser import HTMLParser

    out: list[dict] = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                out.append(dict(attrs))

    Images().feed(page)
    return out
