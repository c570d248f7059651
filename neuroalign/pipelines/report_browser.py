"""Rendering a report in headless Chromium: a screenshot, and the messages the page logged.

Used by the report's browser test and to make the screenshot of the docs.
Needs a Chromium (Debian/Ubuntu: ``apt-get install chromium``); nothing is
downloaded.  The browser runs with a new empty profile and no network
services, and is given only the local file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DependencyError, FileFormatError, NeuroalignError

__all__ = ["Rendering", "find_chromium", "render_in_chromium", "screenshot_report"]

log = logging.getLogger(__name__)

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
#: A message of the page (console call, CSP violation, script error) in Chromium's log.
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)$")


@dataclass
class Rendering:
    """What Chromium made of a page: the screenshot and the page's console messages."""

    screenshot: Path
    console: list[str]


def find_chromium() -> str:
    """The path of a Chromium (or Chrome) executable: ``$CHROMIUM``, else the first found on ``PATH``.

    Raises
    ------
    DependencyError
        None is installed.
    """
    for candidate in (os.environ.get("CHROMIUM"), *_NAMES):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    raise DependencyError("no Chromium found (looked for $CHROMIUM and " + ", ".join(_NAMES) + ")",
                          source="chromium", fix="install it: apt-get install chromium (Debian/Ubuntu)")


def render_in_chromium(html_path: str | os.PathLike, png_path: str | os.PathLike, *, width: int = 1200,
                       height: int = 900, chromium: str | None = None, timeout: float = 120.0) -> Rendering:
    """Load ``html_path`` in headless Chromium, save a ``width`` × ``height`` screenshot, collect console messages.

    Raises
    ------
    FileFormatError
        ``html_path`` does not exist.
    DependencyError
        No Chromium is installed.
    NeuroalignError
        Chromium failed or wrote no screenshot.
    """
    html_path, png_path = Path(html_path).resolve(), Path(png_path).resolve()
    if not html_path.is_file():
        raise FileFormatError("file not found", source=str(html_path), fix="write the report first")
    executable = chromium or find_chromium()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="neuroalign-chromium-") as profile:
        command = [executable, *_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--screenshot={png_path}", html_path.as_uri()]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise NeuroalignError(f"Chromium did not finish within {timeout:g} s", source=executable,
                                  fix="check that it starts: chromium --headless --no-sandbox --version") from exc
    if done.returncode != 0 or not png_path.is_file():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise NeuroalignError(f"Chromium exited with status {done.returncode} without a screenshot ({tail})",
                              source=executable, fix="run the command with --debug to see its output")
    console = [m.group(1) for line in done.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return Rendering(png_path, console)


def screenshot_report(html_path: str | os.PathLike, png_path: str | os.PathLike, width: int = 1200,
                      height: int = 900) -> Path:
    """Save a screenshot of a report (the top ``width`` × ``height`` pixels), e.g. for the docs.

    Raises
    ------
    DependencyError
        No Chromium is installed (``apt-get install chromium``).
    NeuroalignError
        The page logged console messages (an error, or a request it is not allowed to make).

    Examples
    --------
    >>> from neuroalign.pipelines.report_browser import screenshot_report
    >>> screenshot_report  # doctest: +ELLIPSIS
    <function screenshot_report at ...>
    """
    rendering = render_in_chromium(html_path, png_path, width=width, height=height)
    if rendering.console:
        raise NeuroalignError(f"the page logged {len(rendering.console)} console message(s): {rendering.console[0]}",
                              source=str(html_path), fix="fix the report's HTML")
    log.info("screenshot %s", png_path)
    return rendering.screenshot
