"""Points closer than a distance, as groups (the two sides of a road, a junction's nodes)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def cluster(xy: np.ndarray, dist_m: float) -> np.ndarray:
    """Group label of every point: points within ``dist_m`` of another are one group (single linkage).

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Coordinates in a metric CRS.
    dist_m : float
        Largest distance between two points of a group that are linked directly (metres);
        0 keeps every point on its own.

    Returns
    -------
    ndarray of int, shape (n,)
        Labels 0..k-1, numbered in the order the groups' first points appear.
    """
    n = len(xy)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if dist_m <= 0:
        return np.arange(n, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(r=float(dist_m), output_type="ndarray")
    adj = sp.coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    # renumber by first appearance so labels do not depend on scipy's numbering
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels].astype(np.int64)


def merge(xy: np.ndarray, dist_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Groups of points within ``dist_m`` (see :func:`cluster`) and the mean position of each.

    Returns
    -------
    labels : ndarray of int, shape (n,)
    centres : ndarray, shape (k, 2)
    """
    labels = cluster(xy, dist_m)
    k = int(labels.max()) + 1 if len(labels) else 0
    count = np.bincount(labels, minlength=k).astype(float)
    centres = (
        np.column_stack([np.bincount(labels, weights=xy[:, 0], minlength=k), np.bincount(labels, weights=xy[:, 1], minlength=k)])
        / np.maximum(count, 1.0)[:, None]
    )
    return labels, centres
