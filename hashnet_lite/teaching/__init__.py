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
- 06 reproduce the paper: ``reproduction`` (the protocols, the commands, reading results).

Across lessons: ``claims`` (the runs behind lessons 03 and 04's claims about alpha, beta and the
weights, over seeds; their full-mode results in results/lessons/), ``figures`` (every lesson figure), ``widgets`` (the sliders, each with a static
companion figure in ``figures``), ``exercises`` (the checkers and the hidden reference solutions;
strict under nbgrader) and ``book`` (the lessons executed and exported as an HTML book).
Import the modules directly: ``from hashnet_lite.teaching import figures``.
"""
