"""The bundle and pool steps as a vantage6 algorithm (optional: ``pip install
".[vantage6]"`` from the checkout; the file-based path, ``immune-recovery bundle`` and ``pool``,
needs nothing of it).

vantage6 (https://vantage6.ai) runs an algorithm's *partial* function at each node, on the
node's own data, and its *central* function where the researcher's task starts; only what
the functions return travels. Here

:func:`partial_bundle`
    runs at a site: its database is the site's HICDEP export stacked into one frame
    (:mod:`.stacked`; vantage6 hands an algorithm one DataFrame per database); the tables are
    validated as files would be (unreadable values read as missing and counted) and the
    pinned analyses bundled exactly as ``immune-recovery bundle`` does
    (:func:`~.bundle.bundle_cohort`: the same disclosure rules, the output checker over every
    member). It returns the bundle's members, nothing else.
:func:`central_pool`
    starts :func:`partial_bundle` at every organization of the collaboration (or those
    given), checks each answer as :func:`~.bundle.read_bundle` checks a file, pools them
    (:func:`~.pool.pool_bundles`) and returns the pooled tables and the bundles themselves;
    :func:`write_result` writes the bundles as files, from which ``immune-recovery pool``
    builds the consortium site.

The algorithm is tested with vantage6's ``MockAlgorithmClient`` (no Docker, no server;
``tests/test_federated.py``), in an environment of its own: vantage6-algorithm-tools 4.15.2
pins click and python-dateutil to versions older than the project's lock file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from vantage6.algorithm.tools.decorators import algorithm_client, data

from ..cohort import Cohort
from ..definitions import select_definitions
from ..disclosure import DEFAULT_MIN_CELL, DEFAULT_MIN_DOF
from ..reporting.outputcheck import Secrets
from .bundle import bundle_cohort, bundle_from_members, write_members
from .pool import pool_bundles
from .stacked import unstack_tables

#: The pooled tables :func:`central_pool` returns (CSV text), by file name.
POOLED_TABLES = ("sites.csv", "pooled.csv", "leave_one_out.csv", "metaregression.csv")


@data(1)
def partial_bundle(frame: pd.DataFrame, site: str, close_date: str, region: str = "",
                   min_cell: int = DEFAULT_MIN_CELL, min_dof: int = DEFAULT_MIN_DOF) -> dict:
    """A site's bundle members (file name to text) from its stacked HICDEP frame; the
    catalogue's definitions, ``close_date`` the database close date (ISO)."""
    tables = unstack_tables(frame)
    cohort = Cohort.from_tables(tables, name=site, close_date=close_date,
                                unreadable="missing")
    secrets = Secrets.of_tables(tables.values(), close_date)
    _, members = bundle_cohort(cohort, site, region, select_definitions(), close_date,
                               secrets, min_cell, min_dof)
    return {"site": site, "members": members}


@algorithm_client
def central_pool(client, close_date: str, organizations: list[int] | None = None,
                 regions: dict | None = None, min_cell: int = DEFAULT_MIN_CELL,
                 min_dof: int = DEFAULT_MIN_DOF) -> dict:
    """Bundle at each organization (named by vantage6; ``regions`` by organization id) and
    pool: ``{"bundles": {site: members}, "sites.csv": ..., "pooled.csv": ..., ...}``."""
    ids = organizations or [o["id"] for o in client.organization.list()]
    answers = []
    for org in ids:
        site = _site_name(client.organization.get(org)["name"])
        task = client.task.create(
            input_={"method": "partial_bundle", "kwargs": {
                "site": site, "close_date": close_date,
                "region": (regions or {}).get(str(org), ""), "min_cell": min_cell,
                "min_dof": min_dof}},
            organizations=[org], name=f"bundle {site}",
            description="immune-recovery: the pinned analyses, aggregates only")
        answers += client.wait_for_results(task["id"])
    bundles = [bundle_from_members(a["members"], f"site {a['site']}") for a in answers]
    pooled = pool_bundles(bundles)
    tables = (pooled.sites, pooled.pooled, pooled.leave_one_out, pooled.metaregression)
    return {"bundles": {a["site"]: a["members"] for a in answers},
            **{name: table.to_csv(index=False, lineterminator="\n", float_format="%.10g")
               for name, table in zip(POOLED_TABLES, tables, strict=True)}}


def _site_name(name: str) -> str:
    """An organization's name as a site name (letters, digits and dashes)."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-") or "site"


def write_result(result: dict, folder: str | Path) -> list[Path]:
    """Write :func:`central_pool`'s answer into ``folder``: each site's bundle as
    ``<site>.zip`` (with its ``.html`` summary) and the pooled tables; returns the bundles'
    paths (for ``immune-recovery pool``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for site, members in sorted(result["bundles"].items()):
        paths.append(write_members(members, folder / f"{site}.zip"))
    for name in POOLED_TABLES:
        (folder / name).write_text(result[name], encoding="utf-8")
    return paths
