"""The teaching layer: what only the lessons (notebooks/) need.

The core never imports it, so ``import hashnet_lite`` stays fast and headless. Which lesson
uses which module is in ARCHITECTURE.md at the top of the repository (the one module map).
A lesson's figures live in ``figures.lessonNN`` (that package's docstring says where a new
figure goes). Import the modules directly: ``from hashnet_lite.teaching.figures import lesson01``.
"""
