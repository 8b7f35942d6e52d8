"""The lessons' figures, filed by lesson: ``lessonNN`` holds the figures of
notebooks/NN_*.ipynb. A notebook imports the modules of its lesson (and of an earlier lesson
whose figure it shows again)::

    from hashnet_lite.teaching.figures import lesson01, lesson05
    widgets.show(lesson05.plot_training_steps(log))

The rule, for a figure and for a new lesson's author:

- a figure lives in the module of the first lesson that shows it, in the order the lesson
  shows them; a later lesson that shows it again imports it from there (lesson 05's gallery
  is ``lesson01.plot_query_gallery``). A new lesson NN adds ``lessonNN.py``;
- a figure is a function named ``plot_<what it shows>`` that takes the numbers, returns a
  matplotlib Figure and never shows it (``widgets.show`` does). What it draws from, the
  computation, lives in the lesson's topic module (``gradients``, ``snapshots``, ``peers``,
  ...), never here, so a number and its picture never share a name;
- each slider of ``widgets`` redraws one figure here, and the lesson also shows a static
  companion that sets a few of the slider's values side by side (small multiples: a
  ``plot_<...>_panels`` next to the slider's figure, or the figure itself called with several
  values), so that it reads right where no kernel runs the slider. ipywidgets swallows
  exceptions raised in a slider's callback, so the tests call the figures directly.
"""
