"""The metastable Markov chain between attractors: W by minimum spanning
arborescences (Freidlin-Wentzell i-graphs), the closure of direct costs,
and the stationary law computed on logarithms."""

from __future__ import annotations

import networkx as nx
import numpy as np
from scipy.special import logsumexp

__all__ = ["arborescence_costs", "log_stationary", "shortest_paths"]


def arborescence_costs(costs) -> np.ndarray:
    """W_i: the least total cost of an in-arborescence rooted at i.

    An i-graph (Freidlin-Wentzell) gives every other attractor exactly one
    outgoing edge j -> k with cost V_jk, and leads from each to i without
    cycles. Its minimum is a minimum spanning arborescence (Chu-Liu/Edmonds,
    exact) of the reversed graph with i as root. Infinite costs are missing
    edges; W_i is +inf where no i-graph exists.

    Parameters
    ----------
    costs : array_like (k, k)

    Returns
    -------
    ndarray (k,)
    """
    V = np.asarray(costs, dtype=float)
    if V.ndim != 2 or V.shape[0] != V.shape[1]:
        raise ValueError(f"costs must be a square matrix, got shape {V.shape}")
    k = len(V)
    if k == 1:
        return np.zeros(1)
    W = np.full(k, np.inf)
    for root in range(k):
        g = nx.DiGraph()
        g.add_nodes_from(range(k))
        for i in range(k):
            for j in range(k):
                # Edge i -> j of the chain, reversed so that the arborescence
                # grows out of the root; nothing leaves the root in an i-graph.
                if i != j and i != root and np.isfinite(V[i, j]):
                    g.add_edge(j, i, weight=float(V[i, j]))
        try:
            tree = nx.minimum_spanning_arborescence(g, attr="weight", preserve_attrs=True)
        except nx.NetworkXException:
            continue
        W[root] = sum(w for _, _, w in tree.edges(data="weight"))
    return W


def log_stationary(log_rates) -> np.ndarray:
    """Log of the stationary law of a continuous-time Markov chain given the
    logs of its rates (k, k) (-inf: no transition; the diagonal is ignored).

    Grassmann-Taksar-Heyman state reduction, carried out on logarithms: it
    only adds, multiplies and divides positive numbers, so rates of order
    exp(-V/eps) are handled exactly for any small eps.

    Raises ValueError if the chain is not irreducible.
    """
    L = np.array(log_rates, dtype=float)
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"log_rates must be a square matrix, got shape {L.shape}")
    if np.any(np.isnan(L)) or np.any(L == np.inf):
        raise ValueError("log_rates must not contain NaN or +inf")
    k = len(L)
    np.fill_diagonal(L, -np.inf)
    log_out = np.zeros(k)
    for n in range(k - 1, 0, -1):
        log_out[n] = logsumexp(L[n, :n])
        if log_out[n] == -np.inf:
            raise ValueError("the Markov chain is not irreducible: some attractor cannot be left towards the others")
        with np.errstate(invalid="ignore"):
            L[:n, :n] = np.logaddexp(L[:n, :n], L[:n, n, None] + L[None, n, :n] - log_out[n])
    log_pi = np.zeros(k)
    for n in range(1, k):
        log_pi[n] = logsumexp(log_pi[:n] + L[:n, n]) - log_out[n]
    if not np.all(np.isfinite(log_pi)):
        raise ValueError("the Markov chain is not irreducible: some attractor cannot be reached")
    return log_pi - logsumexp(log_pi)


def shortest_paths(V: np.ndarray) -> np.ndarray:
    """Floyd-Warshall closure: the least cost over chains of direct costs."""
    out = V.copy()
    for m in range(len(out)):
        out = np.minimum(out, out[:, m, None] + out[None, m, :])
    np.fill_diagonal(out, 0.0)
    return out
