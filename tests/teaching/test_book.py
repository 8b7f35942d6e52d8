"""The HTML book (hashnet_lite.teaching.book): lesson order, page names, links between lessons,
navigation, static outputs, and a build of two tiny lessons end to end."""
from __future__ import annotations

import json

import nbformat
import pytest

from hashnet_lite.teaching import book


def test_lessons_are_taken_in_order_and_the_start_page_is_the_index(tmp_path):
    for name in ("02_b.ipynb", "00_start.ipynb", "01_a.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    paths = book.lesson_paths(tmp_path)
    assert [p.name for p in paths] == ["00_start.ipynb", "01_a.ipynb", "02_b.ipynb"]
    assert [book.page_name(p) for p in paths] == ["index.html", "01_a.html", "02_b.html"]
    with pytest.raises(FileNotFoundError, match="no lesson"):
        book.lesson_paths(tmp_path / "nothing")


def test_links_between_lessons_point_to_the_pages():
    pages = {"01_hamming_space.ipynb": "01_hamming_space.html", "00_start_here.ipynb": "index.html"}
    text = ("See [01](01_hamming_space.ipynb) and [its section](01_hamming_space.ipynb#5-why), "
            "[back](00_start_here.ipynb), [other](09_missing.ipynb), [web](https://x.org/a.ipynb).")
    assert book.link_pages(text, pages) == (
        "See [01](01_hamming_space.html) and [its section](01_hamming_space.html#5-why), "
        "[back](index.html), [other](09_missing.ipynb), [web](https://x.org/a.ipynb).")


def test_navigation_links_previous_start_and_next():
    titles, pages = ["Start", "One", "Two"], ["index.html", "01.html", "02.html"]
    assert book.navigation(0, titles, pages) == "[One \u2192](01.html)"
    assert book.navigation(1, titles, pages) == "[\u2190 Start](index.html) \u00b7 [start page](index.html) \u00b7 [Two \u2192](02.html)"
    assert book.navigation(2, titles, pages) == "[\u2190 One](01.html) \u00b7 [start page](index.html)"


def test_static_outputs_keep_the_text_of_a_widget_and_drop_its_view():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w")])
    nb.metadata["widgets"] = {"state": {}}
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={
        "text/plain": "[interactive figure]", book.WIDGET_VIEW: {"model_id": "x"}})]
    book.static_outputs(nb)
    assert "widgets" not in nb.metadata and nb.cells[0].outputs[0]["data"] == {"text/plain": "[interactive figure]"}


@pytest.mark.slow
def test_a_book_of_two_tiny_lessons(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    cells = {"00_start.ipynb": ["# 00 · Start\n\nGo to [the lesson](01_lesson.ipynb).", "print('start')"],
             "01_lesson.ipynb": ["# 01 · Lesson", "import os\nprint('CI' in os.environ, os.environ.get('TQDM_DISABLE'))\n"
                                                  "import matplotlib.pyplot as plt\nplt.plot([0, 1]);\n"
                                                  "import ipywidgets\nout = ipywidgets.Output()\ndisplay(out)\n"
                                                  "with out:\n    print('inside a widget')"]}
    for name, (text, source) in cells.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(lessons / name))
    executed = tmp_path / "executed"
    record = book.build_book(lessons, tmp_path / "book", smoke=False, timeout=120, executed_dir=executed,
                             log=lambda *a: None)
    assert record["mode"] == "full" and set(record["lessons"]) == set(cells) and record["pages"] == ["index.html", "01_lesson.html"]
    index = (tmp_path / "book" / "index.html").read_text()
    lesson = (tmp_path / "book" / "01_lesson.html").read_text()
    assert 'href="01_lesson.html"' in index and "00 · Start" in index
    assert "False 1" in lesson  # full mode (CI unset), progress bars off
    assert "data:image/png;base64" in lesson and 'href="index.html"' in lesson
    assert json.loads((tmp_path / "book" / "build.json").read_text())["pages"] == record["pages"]

    # a text edit: --reuse exports again with the new Markdown, running nothing
    nb = nbformat.read(str(lessons / "01_lesson.ipynb"), as_version=4)
    nb.cells[0].source = "# 01 · Lesson, reworded"
    nbformat.write(nb, str(lessons / "01_lesson.ipynb"))
    again = book.build_book(lessons, tmp_path / "book", executed_dir=executed, reuse=True, log=lambda *a: None)
    assert again["reused"] and again["lessons"] == record["lessons"]
    assert "Lesson, reworded" in (tmp_path / "book" / "01_lesson.html").read_text()
    # a code edit: --reuse refuses
    nb.cells[1].source += "\nprint('new')"
    nbformat.write(nb, str(lessons / "01_lesson.ipynb"))
    with pytest.raises(ValueError, match="code cell changed"):
        book.build_book(lessons, tmp_path / "book", executed_dir=executed, reuse=True, log=lambda *a: None)
