"""The pruning's one-band check answers as the whole-vector check it replaces, case by case."""
from types import SimpleNamespace

import numpy as np

from engine.decide import line_pruning as lp


def test_the_one_band_check_agrees_with_the_whole_check_on_every_case():
    rng = np.random.default_rng(7)
    checked = disagreeing = 0
    for trial in range(400):
        K = int(rng.integers(2, 8))
        band_k = np.sort(rng.choice(K, size=int(rng.integers(1, K + 1)), replace=False))
        p = SimpleNamespace(band_k=band_k)
        Wk1 = rng.dirichlet(np.ones(K))
        lo = np.maximum(Wk1[band_k] + rng.normal(0, 0.03, len(band_k)) - 0.02, 0.0)
        hi = lo + rng.uniform(0.0, 0.08, len(band_k))
        if trial % 5 == 0:  # weights exactly on an edge, and at an edge's tolerance
            lo[0] = Wk1[band_k[0]]
            hi[-1] = Wk1[band_k[-1]] + 1e-9
        if trial % 17 == 0:
            Wk1[band_k[0]] = np.nan
        bands = (lo, hi)
        w = Wk1[band_k]
        out1 = (w < lo - 1e-9) | (w > hi + 1e-9)
        check = lp._BandCheck(p, Wk1, out1, bands, lp._band_positions(p))
        for c in range(K):
            for d in (0.0, 1e-9, -1e-9, 1e-12, *rng.normal(0, 0.02, 6), float(Wk1[c] - lo[0])):
                Wk2 = Wk1.copy()
                Wk2[c] -= d
                want = lp._bands_no_worse(p, Wk1, Wk2, out1, bands)
                checked += 1
                disagreeing += check(c, d) != want
    assert checked > 10_000 and disagreeing == 0


def test_a_class_with_two_bands_falls_back_to_the_whole_check():
    p = SimpleNamespace(band_k=np.array([1, 1]))
    assert lp._band_positions(p) is None
    Wk1 = np.array([0.5, 0.5])
    bands = (np.array([0.4, 0.45]), np.array([0.6, 0.55]))
    check = lp._BandCheck(p, Wk1, np.zeros(2, dtype=bool), bands, None)
    assert check(1, 0.0) and not check(1, 0.08) and check(1, 0.04)
