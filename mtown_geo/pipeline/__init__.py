"""One town, end to end, in steps a reader can follow.

``schema`` (the study file) → ``inputs`` (reading what it names) → ``town`` (the town built
once: one metric CRS, every input projected once, one network per mode) → ``steps`` (the
life circles, parks, greenways and siting, each returning its tables and layers) and
``tasks`` (the policy's other spatial tasks) → ``result`` → ``outputs`` (the folder) →
``run`` (:func:`~mtown_geo.pipeline.run.run`, ``check``, ``site``). The public face is
:mod:`mtown_geo.study`.
"""

from . import inputs, outputs, result, run, schema, steps, tasks, town

__all__ = ["inputs", "outputs", "result", "run", "schema", "steps", "tasks", "town"]
