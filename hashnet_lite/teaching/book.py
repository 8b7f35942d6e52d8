"""The lessons as a small HTML book: every notebook executed (full mode by default) and exported.

    python -m hashnet_lite.teaching.book --out docs/book            # full mode
    python -m hashnet_lite.teaching.book --out /tmp/book --smoke    # smoke mode, for a quick look
    python -m hashnet_lite.teaching.book --out docs/book --reuse    # after a text edit: no rerun

Each notebook of ``notebooks/`` runs top to bottom in a fresh kernel (nbclient, the engine behind
``jupyter nbconvert --execute``), is exported by nbconvert's HTML exporter (the JupyterLab look, images
embedded, so that one page is one file) and gets a line of links to the previous page, the start page
and the next one. Links between lessons (``02_ill_posed_gradient.ipynb``) point to the pages.
``00_start_here`` becomes ``index.html``. The progress bars are switched off (``TQDM_DISABLE``): a
saved progress bar shows only its first state. The sliders cannot move in a static page; each one
reads as a sentence naming its sliders, and the static figure beside it shows a few of their
settings. ``build.json`` records the mode and each notebook's execution time.

The executed notebooks are kept in ``build/book-executed/`` (``--executed``). ``--reuse`` exports
them again with the current Markdown cells, without running anything: for an edit of the text. It
refuses when a code cell changed since they ran.

Why nbconvert and not Jupyter Book: measured on the project's 2-core machine, see docs/course.md
("The HTML book"). The book needs nothing beyond what the lessons already install.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def lesson_paths(notebooks) -> list[Path]:
    """The lessons in order: ``NN_name.ipynb`` files of ``notebooks``, sorted by number."""
    paths = sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"notebooks={str(notebooks)!r} holds no lesson (NN_name.ipynb)")
    return paths


def page_name(path: Path) -> str:
    """The page of a lesson: index.html for the start page (00), else NN_name.html."""
    return "index.html" if Path(path).name.startswith("00_") else Path(path).stem + ".html"


def title_of(nb) -> str:
    """The lesson's title: the first Markdown heading, without its '#'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "lesson"


def link_pages(text: str, pages: dict[str, str]) -> str:
    """Markdown links to lessons (``02_x.ipynb``, ``02_x.ipynb#anchor``) -> links to their pages."""
    def swap(match):
        target = pages.get(match.group(1))
        return f"]({target}{match.group(2) or ''})" if target else match.group(0)

    return re.sub(r"\]\(([0-9][0-9]_[\w-]+\.ipynb)(#[\w-]+)?\)", swap, text)


def navigation(index: int, titles: list[str], pages: list[str]) -> str:
    """A Markdown line: previous lesson, start page, next lesson."""
    parts = []
    if index > 0:
        parts.append(f"[\u2190 {titles[index - 1]}]({pages[index - 1]})")
    if index != 0:
        parts.append(f"[start page]({pages[0]})")
    if index + 1 < len(pages):
        parts.append(f"[{titles[index + 1]} \u2192]({pages[index + 1]})")
    return " \u00b7 ".join(parts)


def static_outputs(nb) -> None:
    """Drop what a static page cannot show: widget views (their text fallback stays) and widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "data" in out:
                out["data"].pop(WIDGET_VIEW, None)


def execute(path: Path, *, smoke: bool, timeout: int = 3600, kernel: str = "python3"):
    """Run a lesson in a fresh kernel, in its folder; returns (notebook, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in ("CI", "TQDM_DISABLE")}
    os.environ["TQDM_DISABLE"] = "1"
    if smoke:
        os.environ["CI"] = "1"
    else:
        os.environ.pop("CI", None)
    try:  # the kernel inherits this environment
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, seconds


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def reuse_executed(path: Path, executed_dir: Path):
    """The executed copy of a lesson with the lesson's current Markdown; (notebook, seconds, mode).
    Raises ValueError when there is no copy or a code cell changed since it ran."""
    import nbformat

    copy = Path(executed_dir) / path.name
    if not copy.exists():
        raise ValueError(f"no executed copy of {path.name} in {str(executed_dir)!r}: build without --reuse first")
    nb, current = nbformat.read(copy, as_version=4), nbformat.read(path, as_version=4)
    if _code(nb) != _code(current):
        raise ValueError(f"{path.name}: a code cell changed since {copy} ran; build without --reuse")
    markdown = iter(c for c in current.cells if c.cell_type == "markdown")
    nb.cells = [next(markdown) if c.cell_type == "markdown" else c for c in nb.cells]
    meta = nb.metadata.get("hashnet_lite_book", {})
    return nb, meta.get("seconds", float("nan")), meta.get("mode", "unknown")


def build_book(notebooks, out, *, smoke: bool = False, timeout: int = 3600, kernel: str = "python3",
               executed_dir=None, reuse: bool = False, log=print) -> dict:
    """Execute every lesson of ``notebooks`` (or, with ``reuse``, take the copies executed earlier
    in ``executed_dir``) and write the HTML book to ``out``. Returns the record written to
    ``out/build.json``: mode, seconds per lesson, export seconds and total seconds."""
    import nbformat
    from nbconvert import HTMLExporter

    paths = lesson_paths(notebooks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if executed_dir is not None:
        executed_dir = Path(executed_dir)
        executed_dir.mkdir(parents=True, exist_ok=True)
    elif reuse:
        raise ValueError("reuse=True needs executed_dir (where the executed copies are)")
    pages = [page_name(p) for p in paths]
    by_file = {p.name: page for p, page in zip(paths, pages)}
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    record = {"mode": "smoke" if smoke else "full", "lessons": {}, "export_seconds": 0.0}
    t_start = time.perf_counter()
    executed = []
    for path in paths:
        if reuse:
            nb, seconds, mode = reuse_executed(path, executed_dir)
            if mode != record["mode"]:
                raise ValueError(f"{path.name} was executed in {mode} mode, not {record['mode']}")
        else:
            nb, seconds = execute(path, smoke=smoke, timeout=timeout, kernel=kernel)
            nb.metadata["hashnet_lite_book"] = {"seconds": round(seconds, 1), "mode": record["mode"]}
            if executed_dir is not None:
                nbformat.write(nb, executed_dir / path.name)
            log(f"{path.name}: executed in {seconds:.1f} s ({record['mode']} mode)")
        record["lessons"][path.name] = round(seconds, 1)
        executed.append(nb)
    record["reused"] = bool(reuse)
    titles = [title_of(nb) for nb in executed]
    t_export = time.perf_counter()
    for i, (path, nb) in enumerate(zip(paths, executed)):
        static_outputs(nb)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = link_pages(cell.source, by_file)
        nav = navigation(i, titles, pages)
        if nav:
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(nav))
            nb.cells.append(nbformat.v4.new_markdown_cell(nav))
        html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(path.parent),
                                                                          "name": titles[i]}})
        (out / pages[i]).write_text(html, encoding="utf-8")
    record["export_seconds"] = round(time.perf_counter() - t_export, 1)
    record["execution_seconds"] = round(sum(record["lessons"].values()), 1)  # of the run that executed them
    record["total_seconds"] = round(time.perf_counter() - t_start, 1)  # of this build (no execution with reuse)
    record["pages"] = pages
    (out / "build.json").write_text(json.dumps(record, indent=1) + "\n")
    log(f"{len(pages)} pages in {out} ({record['total_seconds']:.0f} s, of which export {record['export_seconds']:.1f} s)")
    return record


def main(argv=None) -> None:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(prog="python -m hashnet_lite.teaching.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", default=str(repo / "notebooks"), help="the lessons' folder")
    parser.add_argument("--out", default=str(repo / "docs" / "book"), help="where the pages go")
    parser.add_argument("--smoke", action="store_true", help="run the lessons in smoke mode (quick, small)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds a cell may run")
    parser.add_argument("--executed", default=str(repo / "build" / "book-executed"),
                        help="where the executed notebooks are kept")
    parser.add_argument("--reuse", action="store_true",
                        help="export the notebooks executed earlier with the current text; run nothing")
    args = parser.parse_args(argv)
    build_book(args.notebooks, args.out, smoke=args.smoke, timeout=args.timeout, executed_dir=args.executed,
               reuse=args.reuse)


if __name__ == "__main__":
    main()
