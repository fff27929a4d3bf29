import json

import numpy as np
import pytest
from conftest import AES_LABELS

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError
from mmmos_core.lite.priors import (
    AES_FIELDS,
    DOMAINS,
    compute_priors,
    describe_priors,
    domain_prior,
    load_domain_ratings,
)

LABELS = AES_LABELS


@pytest.fixture(scope="module")
def priors():
    if not (LABELS / "AES_natural_speech.jsonl").exists():
        pytest.skip(f"no AES ratings at {LABELS}")
    return compute_priors(LABELS)


def test_priors_cover_every_domain_from_the_real_files(priors):
    assert set(priors) == set(DOMAINS)
    for d, p in priors.items():
        rows = (LABELS / f"AES_natural_{d}.jsonl").read_text().splitlines()
        assert p.clips == len([r for r in rows if r.strip()])
        assert p.ratings_per_clip == 10
        for a in AXES:
            assert 1.0 < p.mean[a] < 10.0
            assert p.clip_sd[a] > 0 and p.rater_sd[a] > 0


def test_zero_ratings_are_counted_and_kept_in_the_mean(priors):
    for d, p in priors.items():
        ratings = load_domain_ratings(LABELS / f"AES_natural_{d}.jsonl")
        for i, a in enumerate(AXES):
            assert p.zeros[a] == int((ratings[:, i] == 0).sum())
            # Zeros pull the kept mean down, exactly as the official track-2 lists average them in.
            assert p.mean_nonzero[a] >= p.mean[a]
            assert p.mean[a] == pytest.approx(float(ratings[:, i].mean()))
    assert priors["sound"].zeros["CE"] > 1000  # the README's documented case


def test_content_axes_rise_with_quality_in_human_ratings(priors):
    for p in priors.values():
        assert p.slope_on_pq["PQ"] == pytest.approx(1.0)
        assert 0.5 < p.slope_on_pq["CE"] < 1.2 and 0.5 < p.slope_on_pq["CU"] < 1.2
        assert p.corr_with_pq["CU"] > 0.8
    # Music is the most complex domain, speech the least: PC priors must say so.
    assert priors["music"].mean["PC"] > priors["sound"].mean["PC"] > priors["speech"].mean["PC"]
    table = describe_priors(priors)
    assert all(d in table for d in DOMAINS)


def test_slope_is_least_squares_on_clip_means():
    rng = np.random.default_rng(0)
    pq = rng.uniform(2, 9, size=(50, 1, 1)) + rng.normal(0, 0.5, size=(50, 1, 10))
    ce = 0.5 * pq + 1.0
    ratings = np.concatenate([pq, pq * 0 + 2, ce, ce], axis=1)
    prior = domain_prior("x", ratings)
    assert prior.slope_on_pq["CE"] == pytest.approx(0.5)
    assert prior.zeros["PQ"] == 0
    assert prior.slope_on_pq["PC"] == 0.0 and np.isnan(prior.corr_with_pq["PC"])  # constant axis


def test_unreadable_files_name_the_file_and_line(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        load_domain_ratings(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    row = {AES_FIELDS[a]: [5.0] * 10 for a in AXES}
    bad.write_text(json.dumps(row) + "\n" + json.dumps({"Production_Quality": [1.0]}) + "\n")
    with pytest.raises(ManifestError, match=r"bad.jsonl:2"):
        load_domain_ratings(bad)
