"""The helpers of notebooks 01-03: search_cost, map_by_hand, estimators, snapshots, smoke,
and the figures they feed (the widget callbacks' figures are in test_widgets.py)."""
from __future__ import annotations

import dataclasses
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hashnet_lite import estimators, map_by_hand, plots, retrieval, search_cost, snapshots  # noqa: E402
from hashnet_lite.config import TrainConfig  # noqa: E402
from hashnet_lite.continuation import authors_beta, beta_at  # noqa: E402
from hashnet_lite.model import build_model  # noqa: E402
from hashnet_lite.smoke import shortened  # noqa: E402
from hashnet_lite.synthetic import gaussian_clusters  # noqa: E402
from hashnet_lite.train import fit  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def clusters():
    """4 classes of 16-dim Gaussian clusters: 40 queries, 120 training items, 200 database items."""
    return gaussian_clusters(4, per_class=60, n_query=10, n_train=30, dim=16, spread=1.0, seed=0)


def small_config(**changes) -> TrainConfig:
    base = TrainConfig(bits=8, backbone="mlp", hidden=32, iters=30, batch_size=32, lr=0.01,
                       gamma=0.2, step_size=5, log_every=10, device="cpu")
    return dataclasses.replace(base, **changes)


def random_codes(n, bits, seed):
    return np.where(np.random.default_rng(seed).standard_normal((n, bits)) >= 0, 1, -1).astype(np.int8)


# ------------------------------------------------------------------------------ search_cost
def test_storage_bytes_follow_the_formulas():
    assert search_cost.storage_bytes(1000, dim=4096) == 4 * 4096 * 1000
    assert search_cost.storage_bytes(1000, bits=64) == 8 * 1000
    assert search_cost.storage_bytes(10, bits=12) == 2 * 10  # 12 bits still take 2 whole bytes
    assert search_cost.storage_bytes(1, dim=4096) / search_cost.storage_bytes(1, bits=64) == 32 * 4096 / 64


@pytest.mark.parametrize("kwargs", [dict(), dict(dim=4, bits=8), dict(dim=0), dict(bits=-1)])
def test_storage_bytes_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="dim|bits"):
        search_cost.storage_bytes(5, **kwargs)


def test_float_topk_agrees_with_a_full_sort_whatever_the_chunk():
    rng = np.random.default_rng(0)
    database = rng.standard_normal((50, 6)).astype(np.float32)
    database[7] = database[3]  # a tie in score: broken by index
    queries = np.vstack([rng.standard_normal((4, 6)), database[3:4]]).astype(np.float32)
    scores = queries @ database.T
    expected = np.lexsort((np.broadcast_to(np.arange(50), scores.shape), -scores), axis=1)[:, :5]
    for chunk in (1, 2, 256):
        s, i = search_cost.float_topk(queries, database, 5, chunk=chunk)
        np.testing.assert_array_equal(i, expected)
        np.testing.assert_allclose(s, np.take_along_axis(scores, expected, axis=1), rtol=1e-6)
    assert list(i[-1][:2]) == [3, 7]


def test_float_topk_rejects_bad_input():
    with pytest.raises(ValueError, match="k=6"):
        search_cost.float_topk(np.zeros((2, 3)), np.zeros((5, 3)), 6)
    with pytest.raises(ValueError, match="queries"):
        search_cost.float_topk(np.zeros((2, 4)), np.zeros((5, 3)), 1)


def test_measure_search_cost_reports_what_it_stored():
    r = search_cost.measure_search_cost(n_database=300, n_queries=7, dim=32, bits=16, k=5, repeats=1)
    assert r["bytes_float"] == 4 * 32 * 300 and r["bytes_binary"] == 2 * 300
    assert r["storage_ratio"] == 32 * 32 / 16
    assert r["seconds_float"] > 0 and r["seconds_binary"] > 0
    assert r["speedup"] == pytest.approx(r["seconds_float"] / r["seconds_binary"])
    assert r["backend"] in ("faiss", "numpy")
    with pytest.raises(ValueError, match="k=301"):
        search_cost.measure_search_cost(n_database=300, n_queries=1, dim=4, bits=8, k=301)
    with pytest.raises(ValueError, match="repeats"):
        search_cost.measure_search_cost(n_database=3, n_queries=1, dim=4, bits=8, k=1, repeats=0)


# ------------------------------------------------------------------------------ map_by_hand
def test_ap_table_works_the_definition_out():
    t = map_by_hand.ap_table([1, 0, 1, 0, 0, 1])
    assert t["ap"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    assert [r["hits"] for r in t["rows"]] == [1, 1, 2, 2, 2, 3]
    assert [r["counted"] for r in t["rows"]] == [True, False, True, False, False, True]
    assert t["rows"][1]["precision"] == pytest.approx(1 / 2)
    top3 = map_by_hand.ap_table([1, 0, 1, 0, 0, 1], topk=3)
    assert len(top3["rows"]) == 3 and top3["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert map_by_hand.ap_table([0, 0, 1], topk=2) == {"rows": map_by_hand.ap_table([0, 0], None)["rows"],
                                                         "n_relevant": 0, "ap": 0.0}


@pytest.mark.parametrize("bad", [[], [0, 2], [[1, 0]]])
def test_ap_table_rejects_non_binary_relevance(bad):
    with pytest.raises(ValueError, match="relevant"):
        map_by_hand.ap_table(bad)


@pytest.mark.parametrize("topk", [None, 1, 7, 40])
def test_ap_table_of_the_hamming_ranking_matches_retrieval(topk):
    q, d = random_codes(5, 6, 1), random_codes(60, 6, 2)  # 6 bits: many ties
    yq, yd = np.arange(5) % 3, np.arange(60) % 3
    expected = retrieval.average_precisions(q, d, yq, yd, topk=topk, empty="zero", ties="index")
    for i in range(5):
        order, dist = map_by_hand.hamming_ranking(q[i], d)
        assert np.all(np.diff(dist) >= 0)
        assert map_by_hand.ap_table(yd[order] == yq[i], topk)["ap"] == pytest.approx(expected[i])


def test_relevance_matrix_same_for_class_ids_and_one_hot_rows():
    ids_q, ids_d = np.array([0, 2, 1]), np.array([2, 2, 0, 1])
    eye = np.eye(3, dtype=np.uint8)
    np.testing.assert_array_equal(map_by_hand.relevance_matrix(ids_q, ids_d),
                                  map_by_hand.relevance_matrix(eye[ids_q], eye[ids_d]))
    with pytest.raises(ValueError, match="both"):
        map_by_hand.relevance_matrix(ids_q, eye[ids_d])


def test_tie_orders_bracket_every_other_convention():
    q, d = random_codes(8, 4, 3), random_codes(80, 4, 4)  # 4 bits: large ties
    yq, yd = np.arange(8) % 4, np.arange(80) % 4
    for topk in (None, 10):
        first = map_by_hand.tie_order_map(q, d, yq, yd, topk, order="first")
        last = map_by_hand.tie_order_map(q, d, yq, yd, topk, order="last")
        by_index = retrieval.mean_average_precision(q, d, yq, yd, topk=topk)
        aware = retrieval.mean_average_precision(q, d, yq, yd, topk=topk, ties="tie_aware")
        assert last < by_index < first and last < aware < first
    with pytest.raises(ValueError, match="order"):
        map_by_hand.tie_order_map(q, d, yq, yd, order="middle")


def test_tie_orders_agree_when_there_are_no_ties():
    # database item j differs from the query in its first j bits: distances 0, 1, ..., K
    bits = 9
    q = np.ones((1, bits), np.int8)
    d = np.ones((bits + 1, bits), np.int8)
    for j in range(bits + 1):
        d[j, :j] = -1
    yq, yd = np.array([1]), np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 1])
    expected = retrieval.mean_average_precision(q, d, yq, yd)
    for order in ("first", "last"):
        assert map_by_hand.tie_order_map(q, d, yq, yd, order=order) == pytest.approx(expected)


def test_convention_table_rows():
    q, d = random_codes(12, 4, 5), random_codes(50, 4, 6)
    yq, yd = np.arange(12) % 5, np.arange(50) % 5
    rows = map_by_hand.convention_table(q, d, yq, yd, topk=3)
    values = {r["convention"]: r["map"] for r in rows}
    assert len(rows) == 5 and all(r["topk"] == 3 for r in rows)
    assert values["ties by index, empty queries left out"] >= values["ties by index, empty queries count 0"]
    assert (values["relevant items last in ties"] <= values["tie-aware expectation"]
            <= values["relevant items first in ties"])


# ------------------------------------------------------------------------------ estimators
def test_sign_maps_zero_to_plus_one_and_has_zero_gradient():
    z = torch.tensor([-1.5, -0.2, 0.0, 0.3, 2.0], requires_grad=True)
    b = estimators.sign(z)
    assert b.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    (b * torch.arange(5.0)).sum().backward()
    assert torch.equal(z.grad, torch.zeros(5))


def test_straight_through_passes_the_gradient_of_hardtanh():
    z = torch.tensor([-1.5, -1.0, -0.2, 0.0, 0.3, 1.0, 2.0], requires_grad=True)
    b = estimators.straight_through_sign(z)
    assert b.tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    weights = torch.arange(1.0, 8.0)
    (b * weights).sum().backward()
    assert z.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


@pytest.mark.parametrize("beta", [0.5, 1.0, 7.0])
def test_tanh_grad_is_autograds_derivative(beta):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    torch.tanh(beta * x).sum().backward()
    np.testing.assert_allclose(estimators.tanh_grad(x.detach().numpy(), beta), x.grad.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="beta"):
        estimators.tanh_grad(x.detach().numpy(), 0.0)


def test_vanishing_fraction_counts_beta_z_beyond_the_threshold_and_grows_with_beta():
    z = np.linspace(-1, 1, 2001)
    threshold = math.atanh(math.sqrt(0.99))  # ~2.99
    for beta in (1.0, 5.0, 20.0):
        assert estimators.vanishing_fraction(z, beta) == pytest.approx((np.abs(beta * z) > threshold).mean(), abs=1e-3)
    fractions = [estimators.vanishing_fraction(torch.from_numpy(z), b) for b in (1.0, 4.0, 8.0, 16.0)]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] > 0.75
    with pytest.raises(ValueError, match="rel"):
        estimators.vanishing_fraction(z, 1.0, rel=1.5)


def test_straight_through_bias_formulas_agree_with_finite_differences_and_autograd():
    sigma, target = 0.5, 0.5
    curves = estimators.straight_through_bias(np.array([-0.3, 0.0, 0.4, 1.0]), sigma=sigma, target=target)

    def objective(mu):  # F(mu) = P(z >= 0)(1 - t)^2 + P(z < 0)(1 + t)^2
        p = 0.5 * (1 + math.erf(mu / sigma / math.sqrt(2)))
        return p * (1 - target) ** 2 + (1 - p) * (1 + target) ** 2

    eps = 1e-5
    numeric = [(objective(m + eps) - objective(m - eps)) / (2 * eps) for m in curves["mu"]]
    np.testing.assert_allclose(curves["true"], numeric, rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(400_000, generator=g, dtype=torch.float64)
    for mu, expected in zip(curves["mu"], curves["straight_through"]):
        m = torch.tensor(mu, requires_grad=True)
        ((estimators.straight_through_sign(m + sigma * noise) - target) ** 2).mean().backward()
        assert m.grad.item() == pytest.approx(expected, abs=0.01)
    # the bias: at mu = 0.4 the estimator says "lower mu" while the loss keeps falling as mu grows
    assert curves["true"][2] < 0 < curves["straight_through"][2]


def test_build_estimator_model_starts_from_fits_weights():
    config = small_config()
    torch.manual_seed(config.seed)
    reference = build_model(config, (16,))
    for name in estimators.ESTIMATORS:
        model = estimators.build_estimator_model(name, config, (16,))
        for (k, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
            assert torch.equal(a, b), (name, k)
    with pytest.raises(ValueError, match="estimator"):
        estimators.build_estimator_model("tanh2", config, (16,))


def test_binarized_model_gets_gradients_only_through_the_straight_through_estimator():
    config = small_config()
    x, labels = torch.randn(12, 16), torch.arange(12) % 3
    from hashnet_lite.loss import pairwise_likelihood_loss

    norms = {}
    for name in ("sign", "straight_through"):
        model = estimators.build_estimator_model(name, config, (16,))
        h = model(x, 3.0)
        assert set(h.unique().tolist()) <= {-1.0, 1.0}
        pairwise_likelihood_loss(h, labels, alpha=config.alpha_value).backward()
        norms[name] = sum(p.grad.abs().sum().item() for p in model.parameters())
    assert norms["sign"] == 0.0 and norms["straight_through"] > 0.0


def test_pre_activations_restore_the_training_mode(clusters):
    model = estimators.build_estimator_model("continuation", small_config(), clusters.input_shape)
    model.train()
    z = estimators.pre_activations(model, clusters.database, batch_size=64)
    assert model.training and z.shape == (len(clusters.database), 8) and z.dtype == np.float32
    with torch.no_grad():
        model.eval()
        expected = model.project(torch.from_numpy(clusters.arrays("database"))).numpy()
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)


def test_compare_estimators_sign_trains_nothing_and_continuation_learns(clusters):
    config = small_config(weight_decay=0.0, dropout=0.0)  # no weight decay: "sign" must not move at all
    rows = estimators.compare_estimators(clusters, config)
    by = {r["estimator"]: r for r in rows}
    assert [r["estimator"] for r in rows] == list(estimators.ESTIMATORS)
    assert by["sign"]["max_grad_norm"] == 0.0 and by["sign"]["weights_moved"] == 0.0
    assert by["sign"]["map_binary"] == by["sign"]["map_untrained"]
    assert math.isnan(by["sign"]["map_continuous"]) and by["sign"]["quantization_error"] == 0.0
    assert by["continuation"]["map_binary"] > by["continuation"]["map_untrained"] + 0.1
    assert by["tanh"]["final_beta"] == 1.0 and math.isnan(by["straight_through"]["final_beta"])
    assert by["continuation"]["final_beta"] == beta_at(config.iters - 1, config)
    assert len(by["tanh"]["grad_norms"]) == config.iters and by["tanh"]["max_grad_norm"] > 0
    assert len(by["tanh"]["losses"]) == config.iters
    assert np.mean(by["tanh"]["losses"][-10:]) == pytest.approx(by["tanh"]["history"][-1]["loss"])
    with pytest.raises(ValueError, match="estimators"):
        estimators.compare_estimators(clusters, config, ("sign", "nope"))


# ------------------------------------------------------------------------------ snapshots
def test_snapshot_steps_and_probe_indices():
    assert snapshots.snapshot_steps(10, 5) == [0, 5, 10]
    assert snapshots.snapshot_steps(12, 5) == [0, 5, 10, 12]
    with pytest.raises(ValueError, match="every"):
        snapshots.snapshot_steps(10, 0)
    np.testing.assert_array_equal(snapshots.probe_indices([2, 0, 1, 0, 2, 1], per_class=1), [1, 2, 0])
    np.testing.assert_array_equal(snapshots.probe_indices([2, 0, 1, 0, 2, 1], per_class=2), [1, 3, 2, 5, 0, 4])


def test_snapshots_leave_the_run_unchanged(clusters):
    config = small_config()
    run = snapshots.train_with_snapshots(clusters, config, every=10, probe_per_class=3)
    _, history = fit(clusters, config, progress=False)
    assert [h["loss"] for h in run.history] == [h["loss"] for h in history]
    assert run.steps == [0, 10, 20, 30]
    assert [s.beta for s in run.snapshots] == [beta_at(0, config)] + [beta_at(s - 1, config) for s in (10, 20, 30)]
    assert run.snapshots[0].z_probe.shape == (12, 8) and run.probe_images is None
    assert list(run.probe_classes) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    last = run.snapshots[-1]
    np.testing.assert_allclose(last.h_probe, np.tanh(last.beta * last.z_probe))
    # training separates the classes: mAP at the end beats the untrained network's
    assert last.map_binary > run.snapshots[0].map_binary
    assert 0 <= last.quantization_error < run.snapshots[0].quantization_error


def test_snapshot_run_lookup(clusters):
    run = snapshots.train_with_snapshots(clusters, small_config(iters=10), every=4, evaluate=False)
    assert run.steps == [0, 4, 8, 10]
    assert [run.at(s).step for s in (0, 3, 4, 9, 10, 99)] == [0, 0, 4, 8, 10, 10]
    assert run.snapshots[1].map_binary is None
    steps, betas = run.series("beta")
    assert steps == run.steps and len(betas) == 4
    with pytest.raises(ValueError, match="step"):
        run.at(-1)
    with pytest.raises(ValueError, match="key"):
        run.series("nope")


def test_snapshots_keep_pictures_of_image_items():
    from hashnet_lite.data import split_arrays

    x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))  # 4x4 pictures in [0, 1]
    images = split_arrays("tiny", x, np.arange(60) % 3, seed=0, n_query=4, n_train=10, database="rest",
                          topk=None, name="tiny")
    run = snapshots.train_with_snapshots(images, small_config(iters=4, backbone="cnn"), every=2,
                                         probe_per_class=2, evaluate=False)
    assert run.probe_images.shape == (6, 4, 4)
    first_query = images.query[0][0][0].numpy()
    np.testing.assert_allclose(run.probe_images[0], first_query)


# ------------------------------------------------------------------------------ smoke
def test_shortened_compresses_the_schedules():
    full = TrainConfig(iters=600, gamma=0.02, step_size=50, lr_step=200, epoch_step=20)
    short = shortened(full, 60)
    assert short.iters == 60 and short.gamma == pytest.approx(0.2)
    assert (short.step_size, short.lr_step, short.epoch_step) == (5, 20, 2)
    for fraction in (0.0, 0.5, 1.0):  # the same beta at the same fraction of training
        assert authors_beta(int(fraction * 60), gamma=short.gamma, step_size=short.step_size) == pytest.approx(
            authors_beta(int(fraction * 600), gamma=full.gamma, step_size=full.step_size))
    assert shortened(full, 600) == full
    with pytest.raises(ValueError, match="iters"):
        shortened(full, 0)


# ------------------------------------------------------------------------------ figures
def test_search_cost_figure():
    r = search_cost.measure_search_cost(n_database=200, n_queries=4, dim=16, bits=8, k=3, repeats=1)
    fig = plots.search_cost(r)
    left, right = fig.axes[:2]
    heights = [p.get_height() for p in left.patches]
    assert heights == pytest.approx([4 * 16, 1])
    assert "64x smaller" in left.get_title()


def test_straight_through_bias_figure_marks_where_the_estimator_stops():
    curves = estimators.straight_through_bias(np.linspace(-1, 2, 301))
    fig = plots.straight_through_bias(curves)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), curves["straight_through"])
    texts = [t.get_text() for t in ax.texts]
    assert any("stops at mu" in t for t in texts)


def test_estimator_comparison_figure(clusters):
    rows = estimators.compare_estimators(clusters, small_config(iters=10), ("sign", "continuation"))
    fig = plots.estimator_comparison(rows)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), rows[0]["losses"])  # 10 steps: no smoothing
    bars = fig.axes[1].patches
    assert [round(b.get_height(), 6) for b in bars[:2]] == [round(r["map_binary"], 6) for r in rows]
    assert bars[2].get_height() == 0.0  # "sign" has no continuous output


def test_continuation_curves_figure(clusters):
    run = snapshots.train_with_snapshots(clusters, small_config(iters=10), every=5)
    fig = plots.continuation_curves({"HashNet": run})
    steps, q = run.series("quantization_error")
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), q)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), steps)
