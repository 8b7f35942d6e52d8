"""The lessons as a learner meets them: JupyterLab in a real (headless) browser, and the HTML book.

nbval proves the notebooks execute; it cannot see whether moving a slider in JupyterLab
redraws the figure (that needs the widget front end, the comm round trip to the kernel and
the Output widget's re-render). This module starts its own JupyterLab on 127.0.0.1 (free
port, no token, temporary workspace, config and runtime dirs, ``CI=1`` so the notebooks run in
smoke mode), opens each notebook in headless Chromium driven by Playwright, runs all cells
from the Run menu, drags the slider and checks that

* the slider's value changed (and its readout shows it),
* the image in the slider's cell changed (its ``src`` data URL differs) and then settled,
* no error / traceback output appeared anywhere in the notebook.

Every lesson has one slider the test drags (``WALKTHROUGHS``). The HTML book (docs/book, built by
``python -m hashnet_lite.teaching.book``) is opened page by page from disk: every image must have
loaded and have a size, every page must link to pages that exist, and no error output may show.

A canary notebook, written here, checks the checker: a slider that redraws passes, and a
slider whose figure never changes, one whose callback raises and a missing one are reported.
JupyterLab is loaded once per module; each notebook is opened in it (File > Open from Path),
run, checked, closed, and its kernel shut down.

Screenshots (the notebook with the slider moved) go to pytest's temporary directory, and also
to ``$HASHNET_LITE_SCREENSHOT_DIR`` when it is set (``docs/figures`` refreshes the ones docs/course.md shows).
Skipped, with the reason, where Playwright or Chromium (``/usr/bin/chromium``, Debian's
``chromium`` package; override with ``$HASHNET_LITE_CHROMIUM``) cannot be had.
Deselect with ``-m "not browser"``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # JupyterLab and Chromium: minutes

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = os.environ.get("HASHNET_LITE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# (notebook, label of the slider a learner moves): the lessons' contract is an ipywidgets
# slider whose ``description`` is exactly this label, with continuous_update=False; one per lesson.
WALKTHROUGHS = [("01_hamming_space.ipynb", "R"), ("02_ill_posed_gradient.ipynb", "beta"),
                ("03_continuation.ipynb", "step"), ("04_weighted_likelihood.ipynb", "alpha x K"),
                ("05_train_and_retrieve.ipynb", "query"), ("06_reproduce_the_paper.ipynb", "bits"),
                ("07_hashnet_among_its_peers.ipynb", "lambda"), ("08_hashnet_from_scratch.ipynb", "beta"),
                ("09_your_own_data.ipynb", "R")]
BOOK = REPO / "docs" / "book"  # the executed HTML copy (python -m hashnet_lite.teaching.book)

# Generous waits: a busy 2-core CI machine needs ~15 s to start the server and ~15 s to load
# JupyterLab; the notebooks themselves run < 60 s each in smoke mode.
SERVER_START_S = 90
PAGE_LOAD_S = 90
RUN_ALL_S = 180
REDRAW_S = 90
SETTLE_S = 1.5  # the figure and the kernel must be still this long before we judge

# An error output: JupyterLab renders tracebacks (and stderr) with the stderr MIME type.
ERROR_TEXT = re.compile(r"Traceback|Error\b|Exception\b")


# --------------------------------------------------------------------------------------------
# Availability: skip with the reason, never pass silently.

def _chromium_or_skip() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"Python package playwright is not installed ({exc}); "
                    "pip install playwright (the browser itself comes from apt: chromium)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                    "HASHNET_LITE_CHROMIUM); this test never downloads a browser")
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"jupyterlab is not installed next to {sys.executable}")
    return CHROMIUM


# --------------------------------------------------------------------------------------------
# Processes: everything we start is stopped by its process id, even on failure.

def _children() -> dict[int, list[int]]:
    """ppid -> [pid] for every process, read from /proc (no psutil needed)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after the last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _stop(pids: list[int], *, group: bool, grace_s: float = 10.0) -> None:
    """SIGTERM each pid (its whole process group when ``group``), SIGKILL what outlives grace_s."""
    send = os.killpg if group else os.kill
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                send(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        if not any(_alive(p) for p in pids):
            return


def _api(base: str, path: str, method: str = "GET"):
    req = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


class LabServer:
    def __init__(self, base: str, workspace: Path, proc: subprocess.Popen, log: Path):
        self.base, self.workspace, self.proc, self.log = base, workspace, proc, log

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def shutdown_kernels(self) -> None:
        for kernel in _api(self.base, "/api/kernels"):
            _api(self.base, f"/api/kernels/{kernel['id']}", method="DELETE")


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> LabServer:
    _chromium_or_skip()
    root = tmp_path_factory.mktemp("jupyterlab")
    workspace = root / "work"
    workspace.mkdir()
    for name, _ in WALKTHROUGHS:
        if (NOTEBOOKS / name).exists():
            shutil.copy(NOTEBOOKS / name, workspace / name)
    # User settings: no "get notified about Jupyter news?" popup over the notebook, no update
    # check (the test machine has no network; the learner's screen would not show it either).
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, CI="1",
               JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               JUPYTER_DATA_DIR=str(root / "data"), JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"), IPYTHONDIR=str(root / "ipython"),
               MPLCONFIGDIR=str(root / "matplotlib"), PYTHONUNBUFFERED="1")
    env.pop("JUPYTER_PATH", None)
    env.pop("MPLBACKEND", None)  # conftest's headless Agg would keep plt.show() in the kernels from drawing
    port = free_port()
    log = root / "server.log"
    cmd = [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--port-retries=0", "--IdentityProvider.token=",
           "--ServerApp.password=", f"--ServerApp.root_dir={workspace}",
           "--LabApp.extension_manager=readonly",
           # lets the teardown DELETE kernels over plain HTTP (the server is ours, on loopback)
           "--ServerApp.disable_check_xsrf=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=workspace, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # its own process group: killpg stops it
    server = LabServer(f"http://127.0.0.1:{port}", workspace, proc, log)
    # a CI time limit's SIGTERM would end pytest without running this fixture's teardown: turn
    # it into KeyboardInterrupt, which pytest unwinds through the finally below
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                _api(server.base, "/api/status")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s:\n"
                                f"{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        if previous == signal.SIG_DFL:  # a second SIGTERM must not cut the clean-up short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Kernels run in sessions of their own (jupyter_client starts them with
        # start_new_session), so killing the server's group would orphan them: note every
        # descendant first, ask the server to shut the kernels down, stop the server's group,
        # then stop whatever we noted that still lives, each kernel with its own group.
        kernels = _descendants(proc.pid)
        if proc.poll() is None:
            try:
                server.shutdown_kernels()
            except (urllib.error.URLError, OSError):
                pass
        _stop([proc.pid], group=True)
        proc.poll()  # reap it
        leaders = [p for p in kernels if _alive(p) and _pgid(p) == p]
        _stop(leaders, group=True, grace_s=5)
        _stop([p for p in kernels if _alive(p)], group=False, grace_s=5)
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=_chromium_or_skip(), headless=True,
                                          args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            why = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            pytest.skip(f"Chromium at {CHROMIUM} would not start: {why[:400]}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def screenshot_dirs(tmp_path_factory) -> list[Path]:
    dirs = [tmp_path_factory.mktemp("screenshots")]
    if os.environ.get("HASHNET_LITE_SCREENSHOT_DIR"):
        extra = Path(os.environ["HASHNET_LITE_SCREENSHOT_DIR"])
        dirs.append(extra if extra.is_absolute() else REPO / extra)
        dirs[-1].mkdir(parents=True, exist_ok=True)
    return dirs


# --------------------------------------------------------------------------------------------
# What a learner does, step by step.

KERNEL_STATUS = 'span.jp-StatusBar-TextItem[title^="Change kernel"]'
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _error_outputs(page) -> list[str]:
    # textContent, not innerText: off-screen cells are skipped by content-visibility, and
    # innerText of an unrendered node can come back empty
    texts = page.locator(STDERR).evaluate_all("els => els.map(e => e.textContent)")
    return [t for t in texts if ERROR_TEXT.search(t)]


def _kernel_idle(page) -> bool:
    text = page.locator(KERNEL_STATUS).first.text_content(timeout=5_000) or ""
    return bool(re.search(r"\|\s*Idle\s*$", text))


def _menu(page, menu: str, command: str) -> None:
    """Click menu bar entry ``menu``, then its item that runs ``command``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$")).click()
    page.locator(f'li.lm-Menu-item[data-command="{command}"]').click()


def _wait_kernel_idle(page, timeout_s: float) -> None:
    page.wait_for_function(
        "sel => /\\|\\s*Idle\\s*$/.test(document.querySelector(sel)?.textContent || '')",
        arg=KERNEL_STATUS, timeout=timeout_s * 1000)


def run_all_cells(page, name: str) -> None:
    """Run > Run All Cells; wait until every code cell ran."""
    _menu(page, "Run", "runmenu:run-all")
    # Done when every code cell has an execution count; stop early on an error (Run All stops
    # there and leaves the cells below it unnumbered).
    state = page.wait_for_function(
        """([stderr]) => {
            const errs = [...document.querySelectorAll(stderr)]
                .filter(e => /Traceback|Error\\b|Exception\\b/.test(e.textContent));
            if (errs.length) return 'error';
            const ps = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')];
            return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent)) && 'done';
        }""", arg=[STDERR], timeout=RUN_ALL_S * 1000, polling=250).json_value()
    errors = _error_outputs(page)
    assert state == "done" and not errors, (
        f"{name}: Run All Cells produced error output:\n" + "\n---\n".join(errors))


def _wait_settled(page, cell, before: list[str], patience_s: float) -> list[str]:
    """Poll until the kernel is idle and the slider cell's images have stayed the same for
    SETTLE_S, having changed from ``before``; give up after patience_s (returns the images then).
    Stops early when an error output appears."""
    imgs = cell.locator(".jp-OutputArea-output img")
    deadline = time.monotonic() + patience_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        if _error_outputs(page):
            break
        now = imgs.evaluate_all("els => els.map(e => e.src)")  # one atomic read
        if now != last:
            last, since = now, time.monotonic()
        elif now and now != before and time.monotonic() - since >= SETTLE_S and _kernel_idle(page):
            break
        time.sleep(0.2)
    return last or []


def _still_box(locator, timeout_s: float = 10.0) -> dict:
    """The element's bounding box once it has stopped moving (cells above it that render late,
    images that load, a side bar that folds all shift the notebook's layout)."""
    last, deadline = None, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        box = locator.bounding_box()
        if box is not None and box == last:
            return box
        last = box
        time.sleep(0.25)
    assert last is not None, "slider is not visible"
    return last


def _drag(page, slider, to: float) -> None:
    """Drag the handle to fraction ``to`` of the track, the way a learner does it with a mouse
    (with continuous_update=False the value is committed once, on release)."""
    slider.scroll_into_view_if_needed()
    handle = _still_box(slider.locator(".noUi-handle"))
    track = slider.locator(".noUi-base").bounding_box()
    hx, hy = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(hx, hy)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * to, hy, steps=8)
    page.mouse.up()


def move_slider_and_check(page, name: str, label: str, shots: list[Path],
                          patience_s: float = REDRAW_S) -> dict:
    """Drag the slider labelled ``label``, assert its value moved, its cell's image changed and
    no error output appeared. Saves a screenshot of the notebook with the slider moved to each
    of ``shots`` (file paths)."""
    sliders = page.locator(".jupyter-widgets.widget-slider").filter(
        has=page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    labels = page.locator(".jupyter-widgets.widget-slider .widget-label").all_inner_texts()
    assert sliders.count() == 1, (
        f"{name}: expected exactly one slider labelled {label!r}, found {sliders.count()} "
        f"(slider labels on the page: {labels})")
    slider = sliders.first
    cell = page.locator(".jp-Notebook .jp-Cell").filter(has=slider)
    imgs = cell.locator(".jp-OutputArea-output img")
    assert imgs.count() >= 1, f"{name}: the {label!r} slider's cell shows no image before moving"
    before = imgs.evaluate_all("els => els.map(e => e.src)")
    handle = slider.locator(".noUi-handle")
    value_before = handle.get_attribute("aria-valuenow")

    # from the lower half to 70% of the track, from the upper half to 30%; once more, to the far
    # end, if that did not move it (a layout shift under the mouse, a slider with few steps)
    lo, hi = (float(handle.get_attribute(f"aria-value{m}")) for m in ("min", "max"))
    left = float(value_before) < (lo + hi) / 2
    for to in ((0.7, 1.0) if left else (0.3, 0.0)):
        _drag(page, slider, to)
        value_after = handle.get_attribute("aria-valuenow")
        if value_after != value_before:
            break
    assert value_after != value_before, (
        f"{name}: dragging the {label!r} slider did not move it (value stays {value_before})")

    after = _wait_settled(page, cell, before, patience_s)
    # the slider near the top of the view (the end of its code cell above it), its figure below
    slider.evaluate("""e => { e.scrollIntoView({block: 'start'});
        const scroller = e.closest('.jp-WindowedPanel-outer'); if (scroller) scroller.scrollTop -= 120; }""")
    page.mouse.move(0, 0)  # no hover highlight in the picture
    for path in shots:
        page.screenshot(path=str(path))
    errors = _error_outputs(page)
    assert not errors, (f"{name}: moving {label!r} {value_before} -> {value_after} produced error "
                        "output:\n" + "\n---\n".join(errors))
    assert after, f"{name}: the {label!r} slider's cell shows no image after the move"
    assert after != before, (f"{name}: the figure did not change within {patience_s:.0f} s after "
                             f"moving {label!r} {value_before} -> {value_after}")
    # the slider's readout shows the committed value (in the slider's own format)
    readout = slider.locator(".widget-readout").inner_text().strip()
    decimals = len(readout.partition(".")[2])
    assert float(readout.replace(",", "")) == pytest.approx(float(value_after), abs=0.51 * 10 ** -decimals), (
        f"{name}: the {label!r} slider reads {readout!r} after moving to {value_after}")
    return {"before": value_before, "after": value_after, "readout": readout}


class JupyterLabTab:
    """One browser tab with JupyterLab loaded once (loading it costs ~10 s on a busy 2-core
    machine); each notebook is opened in it with File > Open from Path and closed afterwards."""

    def __init__(self, browser, lab: LabServer):
        self.browser, self.lab = browser, lab
        self.page = None
        self.page_errors: list[str] = []
        self.loads = 0

    def _open(self, name: str):
        if self.page is None:
            self.page = self.browser.new_page(viewport={"width": 1280, "height": 960})
            self.page.set_default_timeout(30_000)
            self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
            # a fresh workspace name per load: a saved layout would reopen old tabs
            self.loads += 1
            self.page.goto(f"{self.lab.base}/lab/workspaces/test{self.loads}/tree/{name}")
            self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=PAGE_LOAD_S * 1000)
        else:
            _menu(self.page, "File", "filebrowser:open-path")
            self.page.locator(".jp-Dialog input").fill(name)
            self.page.keyboard.press("Enter")
            self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=PAGE_LOAD_S * 1000)
            # closing the last notebook opened a Launcher: close it
            launcher = self.page.locator(".jp-mod-left, #jp-main-dock-panel").locator(
                ".lm-TabBar-tab", has_text=re.compile(r"^\s*Launcher\s*$"))
            if launcher.count():
                launcher.first.locator(".lm-TabBar-tabCloseIcon").click()
        _wait_kernel_idle(self.page, PAGE_LOAD_S)  # its kernel has started
        # more width for the notebook (and the screenshot): fold the file browser away by
        # clicking its (current) tab in the left side bar (Open from Path unfolds it)
        if self.page.locator("#jp-left-stack").is_visible():
            self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
            self.page.locator("#jp-left-stack").wait_for(state="hidden", timeout=10_000)
        return self.page

    def _close_notebook(self) -> None:
        _menu(self.page, "File", "application:close")
        discard = self.page.locator(".jp-Dialog button", has_text="Discard")  # "Save changes?"
        discard.or_(self.page.locator(".jp-NotebookPanel")).first.wait_for(state="attached")
        if discard.count():
            discard.click()
        self.page.locator(".jp-NotebookPanel").wait_for(state="detached", timeout=10_000)

    @contextlib.contextmanager
    def notebook(self, name: str, failure_dir: Path):
        """Open ``name``; yield the page. On failure: a screenshot (``FAILED_<notebook>.png`` in
        failure_dir), the server log's tail, and the tab is thrown away (the next notebook gets a
        fresh one). Afterwards the notebook is closed and the kernels shut down, which frees the
        CPU for the next notebook."""
        self.page_errors.clear()
        try:
            yield self._open(name)
            self._close_notebook()
        except BaseException:
            failed = failure_dir / f"FAILED_{Path(name).stem}.png"
            try:
                self.page.screenshot(path=str(failed))
            except Exception as exc:  # the report should be about the first failure
                failed = f"(none: {exc})"
            print(f"screenshot of the failure: {failed}\nserver log tail:\n{self.lab.log_tail()}")
            if self.page is not None:
                self.page.close()
            self.page = None
            raise
        finally:
            self.lab.shutdown_kernels()


@pytest.fixture(scope="module")
def jupyterlab_tab(browser, lab) -> JupyterLabTab:
    tab = JupyterLabTab(browser, lab)
    yield tab
    if tab.page is not None:
        tab.page.close()


# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "label"), WALKTHROUGHS)
def test_slider_redraws_figure_in_jupyterlab(jupyterlab_tab, screenshot_dirs, name, label):
    if not (NOTEBOOKS / name).exists():
        pytest.fail(f"notebooks/{name} is missing")
    t0 = time.monotonic()
    with jupyterlab_tab.notebook(name, screenshot_dirs[0]) as page:
        run_all_cells(page, name)
        t1 = time.monotonic()
        shot = f"browser_{name[:2]}_slider.png"  # e.g. browser_03_slider.png
        moved = move_slider_and_check(page, name, label, [d / shot for d in screenshot_dirs])
        widget_errors = [e for e in jupyterlab_tab.page_errors if "widget" in e.lower()]
        assert not widget_errors, f"{name}: the widget front end raised:\n" + "\n".join(widget_errors)
        print(f"{name}: open + Run All Cells {t1 - t0:.1f} s; {label} {moved['before']} -> "
              f"{moved['after']} and redraw {time.monotonic() - t1:.1f} s; screenshots in "
              + ", ".join(str(d) for d in screenshot_dirs))


CANARY = "canary_sliders.ipynb"


def _write_canary(path: Path) -> None:
    """Three sliders, a cell each: ``live`` redraws its figure; ``frozen`` redraws a figure that
    never depends on it; ``broken`` raises once moved."""
    import nbformat

    bodies = {"live": "    ax.plot([0, 1], [0, v])\n",
              "frozen": "    ax.plot([0, 1], [0, 1])\n",
              "broken": "    if v != 1.0:\n        raise ValueError(f'broken slider at {v}')\n"
                        "    ax.plot([0, 1], [1, 0])\n"}
    cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nimport ipywidgets as w")]
    for label, body in bodies.items():
        cells.append(nbformat.v4.new_code_cell(
            "def draw(v):\n    fig, ax = plt.subplots(figsize=(3, 2))\n" + body + "    plt.show()\n\n"
            f"s = w.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.5, description={label!r},\n"
            "                  continuous_update=False)\n"
            "display(w.VBox([s, w.interactive_output(draw, {'v': s})]))"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def test_checker_reports_unchanged_figure_and_error_output(jupyterlab_tab, lab, tmp_path):
    """The checks above pass on a slider that redraws, and could fail: a figure that does not
    react, a callback that raises and a missing slider are all caught (so a wrong CSS selector
    cannot make the walkthrough test pass vacuously)."""
    _write_canary(lab.workspace / CANARY)
    with jupyterlab_tab.notebook(CANARY, tmp_path) as page:
        run_all_cells(page, CANARY)
        moved = move_slider_and_check(page, CANARY, "live", [tmp_path / "live.png"])
        assert moved["after"] != moved["before"]
        with pytest.raises(AssertionError, match="figure did not change"):
            move_slider_and_check(page, CANARY, "frozen", [tmp_path / "frozen.png"], patience_s=5)
        with pytest.raises(AssertionError, match=r"produced error output:\n(.|\n)*ValueError"):
            move_slider_and_check(page, CANARY, "broken", [tmp_path / "broken.png"], patience_s=30)
        with pytest.raises(AssertionError, match="expected exactly one slider labelled 'nope'"):
            move_slider_and_check(page, CANARY, "nope", [])


# --------------------------------------------------------------------------------------------
# The HTML book: static pages, opened from disk.

def test_the_html_book_renders_every_figure(browser, screenshot_dirs):
    if not (BOOK / "index.html").exists():
        pytest.fail(f"{BOOK} holds no book: build it with `python -m hashnet_lite.teaching.book` "
                    "(docs/course.md, section The HTML book)")
    record = json.loads((BOOK / "build.json").read_text())
    lessons = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(record["lessons"]) == lessons, (
        f"the book is stale: it holds {sorted(record['lessons'])}, notebooks/ holds {lessons}. Rebuild it with "
        "`python -m hashnet_lite.teaching.book --out docs/book` (and put the new times in 00_start_here and docs/course.md)")
    page = browser.new_page(viewport={"width": 1280, "height": 960})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for name in record["pages"]:
            # offline, the CDN scripts (MathJax, require.js) fail to load: wait for the DOM, not the network
            page.goto((BOOK / name).as_uri(), wait_until="domcontentloaded", timeout=PAGE_LOAD_S * 1000)
            page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
            images = page.evaluate("() => [...document.images].map(i => [i.naturalWidth, i.naturalHeight, i.alt])")
            broken = [alt for w, h, alt in images if not (w > 0 and h > 0)]
            assert not broken, f"{name}: {len(broken)} of {len(images)} images did not render: {broken[:5]}"
            assert images, f"{name}: no image at all (every page has a figure: the start page the model's picture)"
            links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
            local = [h.split("#")[0] for h in links if h.endswith(".html") or ".html#" in h]
            missing = sorted({h for h in local if "://" not in h and not (BOOK / h).exists()})
            assert not missing, f"{name}: links to pages that do not exist: {missing}"
            assert not any(h.endswith(".ipynb") for h in links if "://" not in h), f"{name}: a link still points to a notebook"
            texts = page.locator(".jp-OutputArea-output").evaluate_all("els => els.map(e => e.textContent)")
            tracebacks = [t[:300] for t in texts if "Traceback (most recent call last)" in t]
            assert not tracebacks, f"{name}: error output in the book: {tracebacks}"
            if name.startswith("03_"):
                for d in screenshot_dirs:
                    page.screenshot(path=str(d / "book_03.png"))
        assert not errors, "the book's pages raised: " + "; ".join(errors[:5])
    finally:
        page.close()
