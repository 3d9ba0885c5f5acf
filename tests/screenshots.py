"""Reports as a person sees them: a headless Chromium screenshot, and what its pixels show."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

Pixels = npt.NDArray[np.uint8]


def chromium() -> str:
    found = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found is None:
        pytest.skip("no Chromium on this machine: the screenshot check needs one")
    return found


def screenshot(page: Path, width: int = 1280, height: int = 2400) -> Pixels:
    """The page rendered at width x height, as an RGB array (rows, columns, 3)."""
    out = page.with_suffix(".png")
    command = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--screenshot={out}",
        page.resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    with Image.open(out) as image:
        return np.asarray(image.convert("RGB"))


def share_of(pixels: Pixels, colour: str, tolerance: int = 40) -> float:
    """The share of pixels within `tolerance` (per channel) of a #rrggbb colour."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    near = np.all(np.abs(pixels.astype(int) - rgb) <= tolerance, axis=-1)
    return float(near.mean())


def inked_rows(pixels: Pixels) -> npt.NDArray[np.intp]:
    """Rows of the picture with anything drawn on them (a pixel clearly darker than the white page)."""
    return np.flatnonzero((pixels.min(axis=-1) < 200).any(axis=1))
