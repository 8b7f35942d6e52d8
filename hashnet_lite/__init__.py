"""hashnet_lite: HashNet (Cao et al., "HashNet: Deep Learning to Hash by Continuation",
ICCV 2017) as a small, exact, tested package.

Modules, one concept each: ``config`` (the run's frozen config), ``continuation``
(beta as a function of the step), ``loss`` (weighted pairwise likelihood), ``model``
(backbones + hash layer), ``train`` (the loop, checkpoints, encoding), ``retrieval``
(Hamming ranking and metrics; imports nothing else of the package), ``baselines``
(ITQ, LSH), ``data`` (data sets and splits), ``experiments`` (HashNet, its ablations and
the baselines on one split), ``plots`` and ``widgets`` (the only ones importing
matplotlib / ipywidgets), ``cli`` (``python -m hashnet_lite``).
"""
__version__ = "0.1.0"

import os as _os

# OpenMP threads that busy-wait (the default) starve each other on small machines: torch's
# and numba's (retrieval kernels) pools spinning alternately made a 40-step digits run
# 5-20x slower on 2 busy cores (0.8 s with PASSIVE vs 7.6-17.8 s). Only a default: a value
# the user set wins, and it only takes effect when torch is imported after this package.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
