import dataclasses
import math

import numpy as np
import pytest
import torch

from wsvad import methods
from wsvad.contract import FeatureContract, StreamSpec
from wsvad.data import Batch
from wsvad.errors import ConfigError, DataError, WsvadError
from wsvad.methods import losses as L
from wsvad.methods.blocks import RelationNetwork, gather_time, topk_indices
from wsvad.training.checkpoint import load_checkpoint, save_checkpoint


def _batch(b=2, c=3, t=32, d=16, needs=("features",)):
    """Random streams for every stream a method may need (labels: b normal, then b abnormal)."""
    torch.manual_seed(0)
    n = 2 * b
    streams = {"features": torch.rand(n, c, t, d), "motion": torch.rand(n, t),
               "motion_desc": torch.rand(n, t, 208), "motion_grid": torch.rand(n, t, 12, 12, 16),
               "static_desc": torch.rand(n, t, 20),
               "context": torch.rand(n, t, 10)}
    kw = {k: v for k, v in streams.items() if k in needs or k == "features"}
    if "maps" in needs:
        kw["maps"] = torch.rand(n, t, 3, 3, 8)
    if "maps_trunk" in needs:                      # the width of EfficientNet-Lite0's trunk
        kw["maps_trunk"] = torch.rand(n, t, 2, 2, 192)
    if "patches" in needs:
        kw["patches"] = {f"{r}x{c}": torch.rand(n, t, r * c, 8) for r, c in
                         ((2, 3), (3, 5), (4, 7))}
    if "tube_regions" in needs:                    # 3 tubes per video over a few snippets each
        kw["tube_regions"] = [np.array([[k, s, *torch.rand(d).tolist()] for k in range(3)
                                        for s in range(4 * k, 4 * k + 6)], np.float32)
                              for _ in range(n)]
        kw["tubes"] = [np.array([[k, f, f // 16, 10, 10, 30, 30, 0.9] for k in range(3)
                                 for f in range(64 * k, 64 * k + 96)], np.float32)
                       for _ in range(n)]
    return Batch(label=torch.tensor([0.0] * b + [1.0] * b), **kw)


def _fit(m, batch):
    m.fit(lambda: iter(batch.select([i]) for i in range(len(batch.label))))


@pytest.mark.parametrize("name", methods.names())
def test_every_method_forward_losses_backward(name):
    m = methods.create(name, dim=16, batch_size=2)
    batch = _batch(needs=m.needs)
    _fit(m, batch)
    out = m(batch)
    assert out.scores.shape == (4, 32)
    assert ((out.scores >= 0) & (out.scores <= 1)).all()
    assert m.video_score(out).shape == (4,)
    terms = m.losses(batch, out)
    if not m.trains:
        assert terms == {}
        return
    total = sum(terms.values())
    assert torch.isfinite(total)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


@pytest.mark.parametrize("name", methods.names())
def test_every_method_checkpoint_roundtrip(name, tmp_path):
    m = methods.create(name, dim=16, batch_size=2).eval()
    batch = _batch(needs=m.needs)
    _fit(m, batch)          # fitted statistics (input normalisation, ranks) are saved too
    c = FeatureContract(dim=16, crops=3)
    save_checkpoint(m, c, tmp_path / "model")
    m2, c2, meta = load_checkpoint(tmp_path / "model")
    torch.testing.assert_close(m.predict(batch).scores, m2.predict(batch).scores)
    assert c2 == c and meta["method"] == name
    (tmp_path / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(WsvadError, match="unreadable weights"):
        load_checkpoint(tmp_path / "model")


@pytest.mark.parametrize("name", methods.names(trains=True))
def test_every_learned_method_reads_normalised_inputs(name):
    """Scores do not change when every feature dimension is rescaled and shifted and the
    statistics are refitted: the method sees features standardised on normal snippets."""
    if "maps_trunk" in methods.get(name).needs:
        pytest.skip("its input passes through the backbone's last block before normalisation")
    torch.manual_seed(1)
    a = methods.create(name, dim=16, batch_size=2).eval()
    b = methods.create(name, dim=16, batch_size=2).eval()
    batch = _batch(needs=a.needs)
    # scales within a factor of 9 of each other: the σ floor (0.1 × median σ) never applies
    g = torch.Generator().manual_seed(2)
    scale, shift = torch.rand(16, generator=g) * 4 + 0.5, torch.randn(16, generator=g) * 20
    p_scale, p_shift = torch.rand(8, generator=g) * 4 + 0.5, torch.randn(8, generator=g) * 20
    moved = dataclasses.replace(
        batch, features=batch.features * scale + shift,
        patches=None if batch.patches is None else
        {k: v * p_scale + p_shift for k, v in batch.patches.items()},
        maps=None if batch.maps is None else batch.maps * p_scale + p_shift,
        tube_regions=None if batch.tube_regions is None else
        [np.column_stack([r[:, :2], r[:, 2:] * scale.numpy() + shift.numpy()])
         for r in batch.tube_regions])
    _fit(a, batch)
    b.load_state_dict(a.state_dict())     # the same weights, statistics refitted below
    _fit(b, moved)
    torch.testing.assert_close(a.predict(batch).scores, b.predict(moved).scores, rtol=1e-3,
                               atol=1e-4)


@pytest.mark.parametrize("name", methods.names())
def test_every_method_rejects_wrong_dim(name):
    m = methods.create(name, dim=16)
    if "features" not in m.needs:
        pytest.skip(f"{name} does not read features")
    with pytest.raises(DataError, match="expected features"):
        m(_batch(d=8, needs=m.needs))


@pytest.mark.parametrize("name", methods.names())
def test_creating_a_method_flushes_denormals(name):
    torch.set_flush_denormal(False)
    assert torch.tensor([1e-40]).item() != 0.0          # a denormal float32 survives
    methods.create(name, dim=8)
    assert (torch.tensor([1e-40]) * 1.0).item() == 0.0   # now flushed


def test_config_values_are_range_checked():
    for kv, match in [({"lr": -1}, r"lr=-1 is out of range: allowed \(0, inf\)"),
                      ({"dropout": 2}, r"dropout=2 is out of range: allowed \[0, 1\)"),
                      ({"iterations": 0}, r"allowed \[1, inf\)"),
                      ({"batch_size": 2.5}, "whole number"),
                      ({"normalize": "maybe"}, "true or false"),
                      ({"lambda_smooth": "-1e-3"}, "out of range"),
                      ({"input_norm": "zscore"}, "choose one of log, z, abs, none")]:
        with pytest.raises(ConfigError, match=match):
            methods.create("mil", dim=8, **kv)


def test_unknown_method_and_config_key():
    with pytest.raises(ConfigError,
                       match="available: clav, feature_magnitude, .*mil, normal_distance, rtfm"):
        methods.create("nope", dim=8)
    with pytest.raises(ConfigError, match="unknown config keys"):
        methods.create("rtfm", dim=8, colour="red")
    with pytest.raises(ConfigError, match="variant"):
        methods.create("rtfm", dim=8, variant="fast")


def test_variant_defaults_follow_table():
    off = methods.create("rtfm", dim=8).cfg
    pap = methods.create("rtfm", dim=8, variant="paper").cfg
    assert (off.weight_decay, off.lambda_sparse, off.lambda_smooth) == (5e-3, 8e-3, 8e-4)
    assert (pap.weight_decay, pap.lambda_sparse) == (5e-4, 8e-5)
    assert methods.create("rtfm", dim=8, variant="paper", weight_decay="1e-3").cfg.weight_decay \
        == 1e-3


def test_loss_terms_hand_computed():
    a = torch.tensor([[0.1, 0.9, 0.3]])
    n = torch.tensor([[0.2, 0.4, 0.1]])
    assert L.mil_ranking(a, n).item() == pytest.approx(1 - 0.9 + 0.4)
    # (0.8² + 0.6²) = 1.0
    assert L.smoothness(a).item() == pytest.approx(1.0)
    # flat: [.1 .9 .3 | .2 .4 .1] diffs .8 -.6 -.1 .2 -.3 0 → .64+.36+.01+.04+.09 = 1.14
    assert L.smoothness(torch.cat([a, n]), "flat").item() == pytest.approx(1.14)
    assert L.sparsity_l1(a).item() == pytest.approx(1.3)
    assert L.sparsity_l2(a).item() == pytest.approx((0.01 + 0.81 + 0.09) ** 0.5)
    assert L.bce(torch.tensor([0.5]), torch.tensor([1.0])).item() == pytest.approx(0.693147, 1e-5)


def test_topk_and_gather():
    v = torch.tensor([[1.0, 5.0, 3.0, 4.0]])
    idx = topk_indices(v, 3)
    assert sorted(idx[0].tolist()) == [1, 2, 3]
    x = torch.arange(8.0).view(1, 1, 4, 2)
    assert gather_time(x, torch.tensor([[3]])).tolist() == [[[[6.0, 7.0]]]]


def test_rtfm_official_magnitude_loss_hand_computed():
    """Top-3 magnitudes known by construction: α·mean((|100 − ‖mean_k a‖| + ‖mean_k n‖)²)."""
    m = methods.create("rtfm", dim=4, batch_size=1, dropout=0.0).eval()
    fa = torch.zeros(1, 1, 5, 4)
    fa[0, 0, :3, 0] = torch.tensor([30.0, 30.0, 30.0])   # top-3 of abnormal: mean ‖·‖ = 30
    fn = torch.zeros(1, 1, 5, 4)
    fn[0, 0, :3, 1] = torch.tensor([4.0, 4.0, 4.0])      # normal: 4
    from wsvad.methods.base import Output
    out = Output(scores=torch.full((2, 5), 0.5),
                 extras={"features": torch.cat([fn, fa]),
                         "magnitudes": torch.cat([fn, fa]).norm(dim=-1).mean(1)})
    terms = m.losses(Batch(torch.zeros(2, 1, 5, 4), torch.tensor([0.0, 1.0])), out)
    assert terms["magnitude"].item() == pytest.approx(1e-4 * (70 + 4) ** 2)
    assert terms["bce"].item() == pytest.approx(0.693147, 1e-5)
    pm = methods.create("rtfm", dim=4, batch_size=1, variant="paper").eval()
    terms = pm.losses(Batch(torch.zeros(2, 1, 5, 4), torch.tensor([0.0, 1.0])), out)
    assert terms["magnitude"].item() == pytest.approx(1e-4 * (100 - (30 - 4)))


def test_relation_network_is_identity_plus_branches_and_needs_divisible_dim():
    net = RelationNetwork(8)
    assert net(torch.rand(2, 6, 8)).shape == (2, 6, 8)
    with pytest.raises(ValueError, match="divisible by 4"):
        RelationNetwork(10)


def test_non_local_attention_scaled_or_softmax_by_hand():
    """M = θᵀφ / T (RTFM's code) or softmax over each row (SSRL Eq. 1), θ = φ = identity."""
    from wsvad.methods.blocks import NonLocal1d
    x = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])          # [1, C=2, T=3]
    dots = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0]])
    e = math.e
    for softmax, want in ((False, dots / 3),
                          (True, torch.tensor([[e, 1, e], [1, e, e], [e, e, e * e]]))):
        block = NonLocal1d(2, 2, softmax=softmax)
        with torch.no_grad():
            for conv in (block.theta, block.phi):
                conv.weight.copy_(torch.eye(2).unsqueeze(-1))
                conv.bias.zero_()
        _, m = block(x, return_map=True)
        if softmax:
            want = want / want.sum(1, keepdim=True)
        assert torch.allclose(m[0], want, atol=1e-6), (softmax, m)


def test_mil_l2_normalises_only_raw_input():
    assert methods.create("mil", dim=8).cfg.normalize is False            # input_norm: log
    assert methods.create("mil", dim=8, input_norm="none").cfg.normalize is True   # paper
    assert methods.create("mil", dim=8, normalize="true").cfg.normalize is True


def test_input_norm_abs_keeps_the_size_of_a_deviation_not_its_direction():
    """Normal data: dim 0 has mean 1, σ 2. A snippet 3 σ above or below normal maps to
    log(1 + 3) / √2 (part width 2) under ``abs`` — the same vector, so every model scores both
    the same — and to ± that under ``log``."""
    from wsvad.methods.inputs import InputNorm
    normal = torch.tensor([[-1.0, 0.0, 5.0], [3.0, 2.0, 5.0]])   # dim 0: μ 1, σ 2
    parts = (("a", 2), ("b", 1))
    up, down = torch.tensor([[7.0, 1.0, 5.0]]), torch.tensor([[-5.0, 1.0, 5.0]])
    size, signed = InputNorm(3, "abs"), InputNorm(3, "log")
    size.fit(normal, parts)
    signed.fit(normal, parts)
    expect = math.log(4.0) / math.sqrt(2.0)
    assert size(up)[0, 0].item() == pytest.approx(expect)
    assert torch.equal(size(up), size(down))
    assert signed(up)[0, 0].item() == pytest.approx(expect)
    assert signed(down)[0, 0].item() == pytest.approx(-expect)
    mil = methods.create("mil", dim=3, parts=parts, input_norm="abs").eval()
    mil.input_norm.load_state_dict(size.state_dict())
    x = torch.cat([up, down])[:, None, None, :].expand(2, 1, 4, 3)   # [B, crops, T, D]
    scores = mil(Batch(x, torch.ones(2))).scores
    assert torch.allclose(scores[0], scores[1])


def test_input_norm_by_part_gives_each_part_its_own_mode():
    """``a:log,b:abs``: part a keeps the sign of its deviation (−3 σ → −log 4 / √2), part b
    (width 1, μ 5, σ 1) only its size (−2 σ → log 3); the modes are a buffer that a fresh model
    built from the same config loads, and a part without a mode, an unknown part or a bad mode
    is refused with a message that says what to write."""
    from wsvad.methods.inputs import InputNorm
    normal = torch.tensor([[-1.0, 0.0, 4.0], [3.0, 2.0, 6.0]])   # dim 0: μ 1, σ 2; dim 2: μ 5, σ 1
    parts = (("a", 2), ("b", 1))
    norm = InputNorm(3, "a:log,b:abs")
    norm.fit(normal, parts)
    out = norm(torch.tensor([[-5.0, 1.0, 3.0]]))[0]
    assert out[0].item() == pytest.approx(-math.log(4.0) / math.sqrt(2.0))
    assert out[2].item() == pytest.approx(math.log(3.0))
    assert norm.part_modes.tolist() == [0, 0, 2]
    rest = InputNorm(3, "z,b:abs")
    rest.fit(normal, parts)
    assert rest(torch.tensor([[-5.0, 1.0, 3.0]]))[0, 0].item() == pytest.approx(-3 / math.sqrt(2))
    assert "part_modes" not in InputNorm(3, "log").state_dict()      # old checkpoints unchanged
    mil = methods.create("mil", dim=3, parts=parts, input_norm="a:log,b:abs")
    mil.input_norm.load_state_dict(norm.state_dict())
    again = methods.create("mil", dim=3, parts=parts, input_norm="a:log,b:abs")
    again.load_state_dict(mil.state_dict())
    assert again.to("cpu").input_norm.part_modes.tolist() == [0, 0, 2]   # moves like a module
    with pytest.raises(ConfigError, match="no mode for the part 'b'"):
        InputNorm(3, "a:log").fit(normal, parts)
    with pytest.raises(ConfigError, match="names c, which these features do not have"):
        InputNorm(3, "log,c:abs").fit(normal, parts)
    with pytest.raises(ConfigError, match="one per part of the features"):
        methods.create("mil", dim=3, parts=parts, input_norm="a:log,b:fancy")
    maps = InputNorm(3, "appearance:z,motion:abs")   # maps and patches read as appearance
    maps.fit(normal, (("maps", 2), ("motion", 1)))
    assert maps.part_modes.tolist() == [1, 1, 2]


@pytest.mark.parametrize("name", [n for n in methods.names(trains=True)
                                  if "input_parts" in methods.get(n).Config().to_dict()])
def test_input_parts_reads_only_the_named_parts(name):
    """With ``input_parts=b`` a method's scores do not move when part ``a`` of the features
    (and of the tubes' crop features) is replaced; without it, they do."""
    parts = (("a", 10), ("b", 6))
    only_b = methods.create(name, dim=16, parts=parts, batch_size=2, input_parts="b").eval()
    every = methods.create(name, dim=16, parts=parts, batch_size=2).eval()
    every.load_state_dict(only_b.state_dict())
    batch = _batch(needs=only_b.needs)
    _fit(only_b, batch)
    _fit(every, batch)
    g = torch.Generator().manual_seed(3)
    noise = batch.features.clone()
    noise[..., :10] = torch.randn(noise[..., :10].shape, generator=g) * 3
    regions = None if batch.tube_regions is None else \
        [np.column_stack([r[:, :2], np.random.default_rng(4).normal(size=(len(r), 10)) * 3,
                          r[:, 12:]]).astype(np.float32) for r in batch.tube_regions]
    moved = dataclasses.replace(batch, features=noise, tube_regions=regions)
    torch.testing.assert_close(only_b.predict(batch).scores, only_b.predict(moved).scores)
    assert (every.predict(batch).scores - every.predict(moved).scores).abs().max() > 1e-4


def test_input_parts_must_name_parts_of_the_features():
    with pytest.raises(ConfigError, match="the features have the parts appearance, motion"):
        methods.create("mil", dim=16, parts=(("appearance", 10), ("motion", 6)),
                       input_parts="flow")
    with pytest.raises(ConfigError, match="unknown config keys"):   # gig reads maps
        methods.create("gig", dim=16, input_parts="motion")


PARTS = (("appearance", 10), ("motion", 6))


def test_late_fusion_is_the_mean_of_one_model_per_part(tmp_path):
    m = methods.create("rtfm", dim=16, parts=PARTS, batch_size=2, fusion="late").eval()
    assert [p.cfg.input_parts for p in m.members] == ["appearance", "motion"]
    batch = _batch(needs=m.needs)
    _fit(m, batch)
    out = m.predict(batch)
    each = [p.predict(batch).scores for p in m.members]
    torch.testing.assert_close(out.scores, (each[0] + each[1]) / 2)
    # the appearance member does not read the motion part
    moved = dataclasses.replace(batch, features=batch.features.clone())
    moved.features[..., 10:] = torch.randn(moved.features[..., 10:].shape) * 3
    torch.testing.assert_close(m.members[0].predict(moved).scores, each[0])
    # losses are each member's terms; one step moves both members
    m.train()
    terms = m.losses(batch, m(batch))
    assert {k.split(".")[0] for k in terms} == {"appearance", "motion"}
    before = [[q.clone() for q in p.parameters()] for p in m.members]
    m.train_step(batch, m.optimizer())
    assert all(any(not torch.equal(b, q) for b, q in zip(old, p.parameters(), strict=True))
               for old, p in zip(before, m.members, strict=True))
    # saved and loaded as the same two-stream model
    m.eval()
    feats = StreamSpec("features", (3, 16), parts=PARTS)
    save_checkpoint(m, FeatureContract(dim=16, crops=3, streams=(feats,)), tmp_path / "model")
    m2 = load_checkpoint(tmp_path / "model")[0]
    assert type(m2).__name__ == "LateFusion" and m2.name == "rtfm"
    torch.testing.assert_close(m.predict(batch).scores, m2.predict(batch).scores)


def test_late_fusion_needs_parts_and_a_method_that_steps_as_one():
    with pytest.raises(ConfigError, match="one model per named part"):
        methods.create("mil", dim=16, fusion="late")
    with pytest.raises(ConfigError, match="not available for wsstad"):
        methods.create("wsstad", dim=16, parts=PARTS, fusion="late")
    with pytest.raises(ConfigError, match="choose one of early, late"):
        methods.create("mil", dim=16, parts=PARTS, fusion="middle")


def test_late_fusion_learns_anomalies_each_part_carries_alone():
    """Half the abnormal videos deviate in the appearance part only, half in the motion part
    only; MIL with one model per part must rank both kinds of anomalous snippets high."""
    rng = np.random.default_rng(0)

    def videos(n_normal, n_abnormal):
        x = rng.normal(size=(n_normal + n_abnormal, 16, 16)).astype(np.float32)
        y = np.zeros((len(x), 16), bool)
        for i in range(n_normal, len(x)):
            t = rng.integers(0, 12)
            cols = slice(0, 10) if i % 2 else slice(10, 16)
            x[i, t:t + 4, cols] += 2.5
            y[i, t:t + 4] = True
        return torch.from_numpy(x)[:, None], y, torch.tensor([0.0] * n_normal + [1.0] * n_abnormal)

    torch.manual_seed(0)
    x, _, label = videos(30, 30)
    m = methods.create("mil", dim=16, parts=PARTS, fusion="late")
    m.fit(lambda: iter(Batch(x[i:i + 1], label[i:i + 1]) for i in range(len(x))))
    opt = m.optimizer()
    for _ in range(300):
        pick = torch.cat([torch.randint(0, 30, (8,)), torch.randint(30, 60, (8,))])
        m.train_step(Batch(x[pick], label[pick]), opt)
    xt, yt, lt = videos(10, 10)
    s = m.predict(Batch(xt, lt)).scores.numpy()
    from sklearn.metrics import roc_auc_score
    for kind in (1, 0):     # appearance-only anomalies (odd videos), motion-only (even)
        rows = [i for i in range(len(xt)) if i < 10 or i % 2 == kind]
        assert roc_auc_score(yt[rows].ravel(), s[rows].ravel()) > 0.9
