"""One town, end to end: a study file → the indicator report, layers and maps.

A *study file* (YAML, made with ``mtown-geo init``) names the town, its boundaries, the
data sources and the profile; :func:`run` does the whole job and, given an output
folder, writes it atomically (a failed run leaves no half-written folder behind)::

    result = mtown_geo.run("study.yaml", out="out/dongmen")
    result.indicators        # the annex rows with values, targets, pass/fail
    result.layers["units_15min"]   # demand units with their times

This module is the public face of :mod:`mtown_geo.pipeline`, where the work is done:
:mod:`~mtown_geo.pipeline.schema` (the study file), :mod:`~mtown_geo.pipeline.inputs`
(reading it), :mod:`~mtown_geo.pipeline.town` (the town built once),
:mod:`~mtown_geo.pipeline.steps` (the indicators), :mod:`~mtown_geo.pipeline.tasks` (the
policy tasks), :mod:`~mtown_geo.pipeline.outputs` (the folder written) and
:mod:`~mtown_geo.pipeline.run` (:func:`run`, :func:`check`, :func:`site`).
"""

from __future__ import annotations

from .pipeline.outputs import write
from .pipeline.result import StudyResult
from .pipeline.run import check, run, site
from .pipeline.schema import (
    BoundarySpec,
    DemandSpec,
    NetworkSpec,
    OutputSpec,
    PopulationSpec,
    SitingSpec,
    SourceSpec,
    Study,
    TasksSpec,
    load_profile,
    load_study,
    template,
)
from .pipeline.steps import SEARCH_LIMIT_MIN, category_target, sites_table, sites_table_empty

__all__ = [
    "SEARCH_LIMIT_MIN",
    "BoundarySpec",
    "DemandSpec",
    "NetworkSpec",
    "OutputSpec",
    "PopulationSpec",
    "SitingSpec",
    "SourceSpec",
    "Study",
    "StudyResult",
    "TasksSpec",
    "category_target",
    "check",
    "load_profile",
    "load_study",
    "run",
    "site",
    "sites_table",
    "sites_table_empty",
    "template",
    "write",
]
