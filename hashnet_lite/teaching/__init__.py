"""The teaching layer: what only the lessons (notebooks/) need.

The core never imports it, so ``import hashnet_lite`` stays fast and headless; matplotlib
and ipywidgets are imported here (and in the core's results plots) and nowhere else.

By lesson:

- 01 Hamming space: ``map_by_hand`` (AP@R worked by hand, the conventions the field mixes),
  ``search_cost`` (bytes and milliseconds of codes against float vectors), ``neighbours``
  (one query's top matches, picking queries, precision within every radius), ``shallow``
  (PCA hashing: ITQ without its rotation);
- 02 the ill-posed gradient: ``gradients`` (sign, straight-through and tanh surrogates
  trained side by side);
- 03 continuation: ``snapshots`` (codes recorded as beta grows);
- 04 the weighted likelihood: ``imbalance`` (similar and dissimilar pairs in a batch);
- 05 train and retrieve: ``embedding`` (UMAP of codes under the Hamming distance);
- 06 reproduce the paper: ``reproduction`` (the protocols, the commands, reading results);
- 07 HashNet among its peers: ``peers`` (DHN's penalty against continuation, trained side by side);
- 08 HashNet from scratch: ``capstone`` (the checkers of the pieces the learner writes);
- 09 your own data: ``own_data`` (arrays to an npz file under a stated protocol).

Across lessons: ``figures`` (the lesson figures, one module per lesson: ``figures.lesson01``
holds lesson 01's; its docstring says where a new figure goes), ``widgets`` (the sliders, each
redrawing a figure of ``figures``), ``exercises`` (the checkers and the hidden reference
solutions; strict under nbgrader) and ``book`` (the lessons executed and exported as an HTML
book). Import the modules directly: ``from hashnet_lite.teaching.figures import lesson01``.
"""
