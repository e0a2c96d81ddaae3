"""SSRL: staged training that really loads each stage, freezing, heat maps from the PSR
attention (hand-computed), patch features from both extraction paths, and learning on a
generated store whose anomaly lives in one tile only (the whole-frame feature is pure noise)."""

import numpy as np
import pytest
import torch
from conftest import TORCH_THREADS, abnormal_heatmaps, write_store_spec

from wsvad import methods
from wsvad.backbones.video_encoder import EncodedVideo
from wsvad.contract import FeatureContract, StreamSpec
from wsvad.data import Batch
from wsvad.errors import ConfigError, DataError
from wsvad.features.store import FeatureStoreWriter
from wsvad.methods.ssrl import SSRL, SSRLConfig
from wsvad.training import load_checkpoint, train

GRIDS = ((2, 3), (3, 5))


def _patch_store(root, n_train=40, n_test=20, t=12, d=16, dp=8, seed=0, parts=None,
                 clip_shift=0.0, moving=False):
    """Features: noise. Abnormal videos: for snippets [a, a+4) one fixed tile of each grid is
    shifted by +5 in its first four dims (the same spot of the frame in both grids), and the
    clip features by ``clip_shift`` in every dim. With ``moving`` the patches stay noise and
    the anomaly is fast flow instead: the fine flow cells (12×12) around the spot get +1 in the
    fastest magnitude bin and the percentiles."""
    rng = np.random.default_rng(seed)
    flow_rng = np.random.default_rng(seed + 1)           # the flow cells: still noise
    streams = (StreamSpec("features", (1, d), parts=parts), StreamSpec("motion_desc", (208,)),
               StreamSpec("motion_grid", (12, 12, 16), "float16", grid=(12, 12)),
               *(StreamSpec(f"patches_{r}x{c}", (r * c, dp), "float16", grid=(r, c))
                 for r, c in GRIDS))
    w = FeatureStoreWriter(root / "store", FeatureContract(dim=d, crops=1, streams=streams))
    videos, spots = [], {}
    for i in range(n_train + n_test):
        name, y = f"v{i:03d}", int(i % 2)
        s = {"features": rng.normal(size=(t, 1, d)).astype(np.float32),
             "motion_desc": np.abs(rng.normal(0, 0.1, size=(t, 208))).astype(np.float32),
             "motion_grid": np.abs(flow_rng.normal(0, 0.1, size=(t, 12, 12, 16))).astype(
                 np.float16)}
        fx, fy = rng.uniform(0.05, 0.95, size=2)          # where the anomaly is, as fractions
        a = int(rng.integers(0, t - 4))
        for r, c in GRIDS:
            p = rng.normal(size=(t, r * c, dp)).astype(np.float32)
            if y and not moving:
                p[a:a + 4, int(fy * r) * c + int(fx * c), :4] += 5.0
                s["features"][a:a + 4] += clip_shift
            s[f"patches_{r}x{c}"] = p.astype(np.float16)
        if y and moving:
            r0, c0 = int(fy * 12), int(fx * 12)
            s["motion_grid"][a:a + 4, max(r0 - 1, 0):r0 + 2, max(c0 - 1, 0):c0 + 2, 11:] += 1.0
        w.write(name, EncodedVideo(s, frames=16 * t, fps=25.0, snippets=t))
        videos.append((name, y, a))
        spots[name] = (fx, fy, a)
    w.finalize()
    return write_store_spec(root, videos, t, n_train), spots


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _patch_store(tmp_path_factory.mktemp("ssrl"))


def _batch(b=4, t=6, d=16, dp=8, grids=GRIDS):
    torch.manual_seed(0)
    return Batch(torch.rand(b, 1, t, d), torch.tensor([0.0, 0.0, 1.0, 1.0][:b]),
                 patches={f"{r}x{c}": torch.rand(b, t, r * c, dp) for r, c in grids},
                 motion_desc=torch.rand(b, t, 208), motion_grid=torch.rand(b, t, 12, 12, 16))


def test_stage_one_is_rtfm_on_the_clip_features_and_patches_are_ignored():
    m = methods.create("ssrl", dim=16, scales="2x3,3x5", scale_gate=True).eval()
    m.begin_stage(1)
    batch = _batch()
    other = Batch(batch.features, batch.label, motion_desc=batch.motion_desc + 1,
                  motion_grid=batch.motion_grid + 1,
                  patches={k: v + 5 for k, v in batch.patches.items()})
    torch.testing.assert_close(m.predict(batch).scores, m.predict(other).scores)
    assert m.localize(batch, m.predict(batch)) is None      # nothing spatial in stage 1
    stage1 = m.predict(batch).scores
    m.begin_stage(2)
    # the new scale enters through γ = 0: stage 2 starts as exactly stage 1's model
    torch.testing.assert_close(m.predict(batch).scores, stage1)
    assert m.gate["2x3"].requires_grad and not m.gate["3x5"].requires_grad
    with torch.no_grad():
        m.gate["2x3"].fill_(1.0)                             # γ = 1: the paper's plain sum
    assert not torch.allclose(m.predict(batch).scores, m.predict(other).scores)
    plain = methods.create("ssrl", dim=16, scales="2x3,3x5").eval()    # the default: no gate
    plain(batch)
    assert plain.gate is None
    plain.begin_stage(2)
    assert not torch.allclose(plain.predict(batch).scores, plain.predict(other).scores)


def test_branch_stages_train_only_the_new_scale_and_keep_frozen_batchnorm():
    m = methods.create("ssrl", dim=16, scales="2x3,3x5", scale_gate=True)
    m(_batch())                                              # builds the patch branches
    m.begin_stage(3)
    trainable = {n.split(".")[0] + "." + n.split(".")[1] for n, p in m.named_parameters()
                 if p.requires_grad}
    assert trainable == {"psr.3x5", "mpa.3x5", "gate.3x5"}
    m.train()
    assert not m.temporal.pyramid[0][2].training             # frozen VTR BatchNorm
    assert m.mpa["3x5"].conv[2].training                     # the new branch's BatchNorm
    before = m.temporal.pyramid[0][2].running_mean.clone()
    m(_batch())
    torch.testing.assert_close(m.temporal.pyramid[0][2].running_mean, before)
    names = {id(p) for g in m.optimizer().param_groups for p in g["params"]}
    assert names == {id(p) for p in m.parameters() if p.requires_grad}
    m2 = methods.create("ssrl", dim=16, scales="2x3,3x5", finetune="all")
    m2(_batch())
    m2.begin_stage(3)
    assert all(p.requires_grad for p in m2.parameters())


def test_mpa_init_scales_the_last_fc_of_every_branch():
    weights = {}
    for scale in (1.0, 0.01):
        torch.manual_seed(3)
        m = methods.create("ssrl", dim=16, scales="2x3,3x5", mpa_init=scale)
        m(_batch())                                          # builds the patch branches
        weights[scale] = {n: b.fc[0].weight.detach().clone() for n, b in m.mpa.items()}
    for name in ("2x3", "3x5"):
        torch.testing.assert_close(weights[0.01][name], 0.01 * weights[1.0][name])


def test_heatmap_is_the_column_sum_of_the_attention_averaged_over_scales(monkeypatch):
    m = methods.create("ssrl", dim=16, scales="2x3,3x5").eval()
    batch = _batch(b=1, t=1)
    m(batch)
    attn = {"2x3": torch.zeros(1, 6, 6), "3x5": torch.zeros(1, 15, 15)}
    attn["2x3"][0, :, 4] = 1.0            # every patch attends to patch 4: row 1, col 1
    attn["2x3"][0, 0, 0] = 0.5            # column sums: 0.5 at patch 0, 6 at patch 4, median 0
    attn["3x5"][0, :, 14] = -2.0          # bottom-right of the 3×5 grid, standing out below
    monkeypatch.setattr(SSRL, "_relate", lambda self, b, name: (None, attn[name]))
    hm = m.localize(batch, None)[0].heatmaps
    assert hm.shape == (1, 6, 15)         # lcm(2, 3) × lcm(3, 5)
    # 2×3 map normalised: patch 4 → 1, patch 0 → 0.5/6, others 0; 3×5: patch 14 → 1
    expect = np.zeros((6, 15))
    expect[3:6, 5:10] += 1.0
    expect[0:3, 0:5] += 0.5 / 6
    expect[4:6, 12:15] += 1.0
    np.testing.assert_allclose(hm[0], expect / 2, atol=1e-6)


def test_each_patch_gets_the_motion_cells_under_it():
    """patch_motion: a patch of the 2×3 grid is its feature + the mean of the 4×4 flow cells it
    overlaps (row-major, as the patches)."""
    m = methods.create("ssrl", dim=16, scales="2x3", patch_motion=True,
                       motion_cells="coarse").eval()
    assert m.needs == ("features", "patches", "motion_desc")
    b = _batch(grids=((2, 3),))
    b.motion_desc = torch.zeros(4, 6, 208)
    b.motion_desc[..., 15 * 12 + 11] = 1.0          # cell (3, 3), bottom right: last bin
    x = m._with_motion(b, "2x3", b.patches["2x3"])
    assert x.shape == (4, 6, 6, 8 + 12)
    torch.testing.assert_close(x[..., :8], b.patches["2x3"])
    # 4 columns → 3: the last patch column pools cells 2–3; 4 rows → 2: rows 2–3
    assert x[0, 0, 5, -1].item() == pytest.approx(0.25) and x[..., :5, 8:].abs().sum() == 0
    off = methods.create("ssrl", dim=16, scales="2x3", patch_motion=False)     # the paper's
    assert off.needs == ("features", "patches") and off._with_motion(b, "2x3", x) is x


def test_each_patch_gets_the_fine_motion_cells_under_it():
    """motion_cells=fine (the default): the 12×12 cells of motion_grid, 16 values each; a 4×7
    tile covers 3 rows of them and 12/7 columns (adaptive pooling: cells 0–1 for column 0)."""
    m = methods.create("ssrl", dim=16, scales="4x7").eval()       # the default: fine cells
    assert m.needs == ("features", "patches", "motion_grid")
    b = _batch(grids=((4, 7),))
    b.motion_grid = torch.zeros(4, 6, 12, 12, 16)
    b.motion_grid[..., 0, 0, 15] = 6.0               # top-left fine cell, 99.9th percentile
    x = m._with_motion(b, "4x7", b.patches["4x7"])
    assert x.shape == (4, 6, 28, 8 + 16)
    # tile (0, 0) pools rows 0–2 and columns 0–1 of the fine grid: 6 cells, one of them lit
    assert x[0, 0, 0, -1].item() == pytest.approx(1.0) and x[..., 1:, 8:].abs().sum() == 0
    with pytest.raises(DataError, match="motion_grid.*--patches"):
        m._with_motion(Batch(b.features, b.label, patches=b.patches), "4x7", b.patches["4x7"])


def test_bad_patches_and_config_are_clear_errors():
    m = methods.create("ssrl", dim=16, scales="2x3,4x7")
    with pytest.raises(DataError, match="needs the 4x7 patch grid.*--patches"):
        m(_batch())
    with pytest.raises(ConfigError, match="expected grids like"):
        methods.create("ssrl", dim=16, scales="2by3")
    with pytest.raises(ConfigError, match="mpa_stride=3 is out of range"):
        methods.create("ssrl", dim=16, mpa_stride=3)
    bad = _batch()
    bad.patches["2x3"] = bad.patches["2x3"][:, :, :5]
    with pytest.raises(DataError, match="5 patches per snippet, expected 6"):
        methods.create("ssrl", dim=16, scales="2x3")(bad)


def test_staged_training_loads_each_stage_and_learns_a_one_tile_anomaly(store, tmp_path):
    """The clip features are noise, so stage 1 (RTFM) cannot learn; the patch stages must.
    With finetune=branch the VTR and classifier at the end are exactly stage 1's choice —
    which holds only if each stage starts from the previous stage's checkpoint."""
    torch.set_num_threads(TORCH_THREADS)
    spec, spots = store
    # the paper's patch input: here the flow cells are noise, which would only dilute the tile
    res = train(spec, "ssrl", tmp_path / "run",
                {"scales": "2x3,3x5", "iterations": 100, "batch_size": 8, "psr_dim": 16,
                 "patch_motion": "false"},
                seed=0, val_every=10, val_fraction=0.2, progress=False)
    hist = res.metrics
    stages = [h for h in __import__("json").loads((tmp_path / "run" / "history.json")
                                                  .read_text())]
    assert {h["stage"] for h in stages} == {1, 2, 3}
    # stage 1 sees only noise (≈ 0.5); measured 0.78–0.81 across thread counts
    assert hist["frame_auc"] > 0.7, hist
    model = load_checkpoint(tmp_path / "run" / "model")[0]
    assert int(model.active) == 2
    from safetensors.torch import load_file
    stage1 = load_file(tmp_path / "run" / "stages" / "1" / "resume.safetensors")
    key = "best.temporal.fuse.0.weight"
    assert key in stage1, sorted(stage1)[:5]
    torch.testing.assert_close(model.state_dict()["temporal.fuse.0.weight"], stage1[key])


def test_patch_flow_finds_an_anomaly_that_only_moves(tmp_path):
    """Patches and clip features are noise; the anomaly is fast flow at one spot. With the
    flow cells on the patches (the default) SSRL learns it and its heat map finds the spot;
    with the paper's appearance-only patches it cannot."""
    torch.set_num_threads(TORCH_THREADS)
    spec, spots = _patch_store(tmp_path, moving=True)
    auc = {}
    for flow in (True, False):
        res = train(spec, "ssrl", tmp_path / f"run{flow}",
                    {"scales": "2x3,3x5", "iterations": 60, "batch_size": 8, "psr_dim": 16,
                     "staged": "false", "patch_motion": str(flow).lower()},
                    seed=0, val_every=10, val_fraction=0.2, progress=False)
        auc[flow] = res.metrics["frame_auc"]
    assert auc[True] > 0.8 and auc[False] < 0.7, auc
    model = load_checkpoint(tmp_path / "runTrue" / "model")[0]
    hits = []
    for name, heat in abnormal_heatmaps(model, spec, ("features", "patches_2x3", "patches_3x5",
                                                      "motion_grid")):
        fx, fy, a = spots[name]
        r, c = np.unravel_index(heat[a:a + 4].mean(0).argmax(), heat.shape[1:])   # 6 × 15
        hits.append(r // 3 == int(fy * 2) and c // 5 == int(fx * 3))   # in the spot's 2×3 tile
    assert np.mean(hits) > 0.5, np.mean(hits)


def test_heatmap_points_at_the_anomalous_tile(store, tmp_path):
    spec, spots = store
    res = train(spec, "ssrl", tmp_path / "run",
                {"scales": "2x3,3x5", "iterations": 60, "batch_size": 8, "psr_dim": 16,
                 "staged": "false", "patch_motion": "false"},     # the paper's attention map
                seed=0, val_every=10, val_fraction=0.2, progress=False)
    assert res.metrics["frame_auc"] > 0.8
    model = load_checkpoint(tmp_path / "run" / "model")[0]
    hits = []
    for name, heat in abnormal_heatmaps(model, spec, ("features", "patches_2x3", "patches_3x5")):
        fx, fy, a = spots[name]
        hm = heat[a:a + 4].mean(0)
        r, c = np.unravel_index(hm.argmax(), hm.shape)
        hits.append(r * 2 // hm.shape[0] == int(fy * 2) and c * 3 // hm.shape[1] == int(fx * 3))
    # the peak inside the 2×3 tile that holds the anomaly; chance 1/6
    assert np.mean(hits) > 0.5, hits


def test_pooled_patches_one_pass_per_frame_and_recorded_in_the_contract():
    from wsvad.backbones.video_encoder import VideoEncoder
    from wsvad.detect.detector import encoder_for
    from wsvad.errors import ContractMismatch
    assert VideoEncoder("effnet-lite0", patch_size=96).pooled_size(240, 360) == (96, 160)
    enc = VideoEncoder("effnet-lite0", patches=((2, 3), (4, 7)))   # short side 448
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, (16, 120, 180, 3), dtype=np.uint8)
    changed = clip.copy()
    changed[:, :60, :60] = 0                                 # only the top-left window changes
    a, b = (enc.session(batch_snippets=1).push(c) for c in (clip, changed))
    assert a["patches_2x3"].shape == (1, 6, 1280) and a["patches_4x7"].shape == (1, 28, 1280)
    assert a["patches_2x3"].dtype == np.float16
    delta = np.linalg.norm(a["patches_2x3"][0].astype(np.float32)
                           - b["patches_2x3"][0].astype(np.float32), axis=-1)
    # each window pools its own region of the map: the change shows in window 0, and the far
    # (bottom-right) window moves much less (receptive fields leak a little across borders)
    assert delta.argmax() == 0 and delta[5] < 0.5 * delta[0], delta
    c = enc.contract()
    assert c.stream("patches_2x3").method == "pooled-448"
    tiles = VideoEncoder("effnet-lite0", patches=((2, 3), (4, 7)), patch_mode="tiles")
    with pytest.raises(ContractMismatch, match="patches_2x3.*'pooled-448'.*'tiles'"):
        c.check_compatible(tiles.contract(), "run", "data")
    again = encoder_for(c, None, "run")                      # detect rebuilds the same encoder
    assert (again.patch_mode, again.patch_size) == ("pooled", 448)


def test_info_counts_parameters_and_macs_and_share_psr_saves_two_psrs(capsys):
    from wsvad.cli import main
    from wsvad.methods.complexity import describe
    full = describe("ssrl", dim=64, crops=1, segments=4, patch_motion=False)
    shared = describe("ssrl", dim=64, crops=1, segments=4, share_psr=True, patch_motion=False)
    psr = sum(p.numel() for p in methods.blocks.RelationNetwork(64).parameters())
    assert full["parameters"] - shared["parameters"] == 2 * psr
    # MACs of the clip path alone (stage 1 = RTFM) are below the full model's
    assert describe("rtfm", dim=64, crops=1, segments=4)["macs_per_bag"] < full["macs_per_bag"]
    assert main(["info", "--method", "ssrl", "--dim", "64", "--crops", "1", "--segments", "4",
                 "--set", "patch_motion=false"]) == 0
    assert f"{full['parameters'] / 1e6:.1f}M parameters" in capsys.readouterr().out


def test_pointing_uses_the_centre_of_a_tile_shaped_peak():
    """A heat map constant over one 2×3 tile points at the tile's centre: a box there is hit
    (the first cell of the tile, the argmax, would sit in its top-left corner and miss)."""
    from wsvad.evaluation.spatial import heatmap_scores
    hm = np.zeros((1, 6, 15))
    hm[0, 3:6, 5:10] = 1.0                       # bottom-middle tile of a 360×240 frame
    hits, mass = heatmap_scores(hm, {0: [(170, 170, 190, 190)]}, clip=16, size=(360, 240))
    assert hits == [1.0]
    assert mass[0] == pytest.approx(20 * 20 / (120 * 120), abs=0.01)   # box area / tile area


def test_late_fusion_runs_the_stages_in_step(tmp_path):
    """fusion=late with SSRL: one SSRL per part of the clip features, both through the same
    stages; each stage trains only its new scale in both members, the heat map is the members'
    mean, and the fused model trains through every stage and loads back from its checkpoint.
    (The anomaly is in the clip features too: which member learns a tile alone within a short
    run varies with the seed; SSRL learning tiles is tested above.)"""
    torch.set_num_threads(TORCH_THREADS)
    parts = (("appearance", 10), ("motion", 6))
    m = methods.create("ssrl", dim=16, parts=parts, fusion="late", scales="2x3,3x5",
                       psr_dim=8)
    batch = _batch()
    m.fit(lambda: iter(Batch(batch.features[i:i + 1], batch.label[i:i + 1],
                             patches={k: v[i:i + 1] for k, v in batch.patches.items()},
                             motion_grid=batch.motion_grid[i:i + 1])
                       for i in range(4)))
    assert m.stage_count() == 3
    m.begin_stage(3)
    trainable = {".".join(n.split(".")[:4]) for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {f"members.{i}.{k}.3x5" for i in (0, 1) for k in ("psr", "mpa",
                                                                          "project")}
    assert {id(p) for g in m.optimizer().param_groups for p in g["params"]} == \
        {id(p) for p in m.parameters() if p.requires_grad}
    m.eval()
    out = m(batch)
    each = [p.predict(batch) for p in m.members]
    torch.testing.assert_close(out.scores, (each[0].scores + each[1].scores) / 2)
    heat = m.localize(batch, out)
    mine = [p.localize(batch, e) for p, e in zip(m.members, each, strict=True)]
    np.testing.assert_allclose(heat[1].heatmaps, (mine[0][1].heatmaps + mine[1][1].heatmaps) / 2,
                               rtol=1e-6)

    spec, _ = _patch_store(tmp_path, n_train=24, n_test=10, parts=parts, clip_shift=2.0)
    res = train(spec, "ssrl", tmp_path / "run",
                {"scales": "2x3,3x5", "iterations": 30, "batch_size": 6, "psr_dim": 16,
                 "fusion": "late", "stage_selection": "always"},   # every stage, to check them
                seed=0, val_every=10, val_fraction=0.2, progress=False)
    assert res.metrics["frame_auc"] > 0.9, res.metrics
    history = __import__("json").loads((tmp_path / "run" / "history.json").read_text())
    assert {h["stage"] for h in history} == {1, 2, 3}
    model = load_checkpoint(tmp_path / "run" / "model")[0]
    assert type(model).__name__ == "LateFusion" and [int(p.active) for p in model.members] == [2, 2]
    names = ("features", "patches_2x3", "patches_3x5", "motion_grid")
    assert len(list(abnormal_heatmaps(model, spec, names))) == 5


def test_psr_attention_softmax_is_row_normalised_and_scaled_is_not():
    """``psr_attention=softmax``: every row of each scale's M sums to 1 (paper Eq. 1); the
    default ``scaled`` (RTFM's code) is θᵀφ / P, whose rows need not. The VTR keeps RTFM's."""
    torch.manual_seed(0)
    b = Batch(torch.rand(2, 1, 4, 16), torch.tensor([0.0, 1.0]),
              patches={"2x3": torch.rand(2, 4, 6, 8)})
    rows = {}
    for att in ("softmax", "scaled"):
        m = SSRL(16, SSRLConfig.build({"batch_size": 1, "scales": "2x3", "patch_motion": False,
                                       "psr_attention": att})).eval()
        _, attn = m._relate(b, "2x3")                                   # [B·T, P, P]
        rows[att] = attn.sum(-1)
        assert attn.shape == (8, 6, 6)
        assert m.temporal.attention.softmax is False
        assert m.localize(b, m(b))[0].heatmaps.shape == (4, 2, 3)
    assert torch.allclose(rows["softmax"], torch.ones(8, 6))
    assert not torch.allclose(rows["scaled"], torch.ones(8, 6))


def test_a_left_out_stage_leaves_the_sum_and_the_heat_map():
    m = methods.create("ssrl", dim=16, scales="2x3,3x5").eval()
    batch = _batch()
    m.begin_stage(1)
    stage1 = m.predict(batch).scores
    m.begin_stage(2)
    assert not torch.allclose(m.predict(batch).scores, stage1)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    assert m.leave_out_stage(2, dry_run=True) and int(m.kept[0]) == 1   # only asks
    assert m.leave_out_stage(2)
    assert m.active_scales() == [] and int(m.active) == 1
    torch.testing.assert_close(m.predict(batch).scores, stage1)      # clip features alone
    assert m.localize(batch, m.predict(batch)) is None
    m.begin_stage(3)
    assert m.active_scales() == ["3x5"]
    assert m.localize(batch, m.predict(batch))[0].grids == ((3, 5),)
    again = methods.create("ssrl", dim=16, scales="2x3,3x5")
    again.load_state_dict(m.state_dict())                            # the mask travels
    assert again.active_scales() == ["3x5"]
    old = {k: v for k, v in state.items() if k != "kept"}            # saved before the mask
    again.load_state_dict(old)
    assert again.active_scales() == ["2x3"]
    assert not m.leave_out_stage(1)                                  # stage 1 is the base
    assert not methods.create("ssrl", dim=16, stage_selection="always").leave_out_stage(2)
    assert not methods.create("rtfm", dim=16).leave_out_stage(2)


@pytest.mark.parametrize("improves,selection,left_out", [(False, "validated", [2, 3]),
                                                         (True, "validated", []),
                                                         (False, "always", [])])
def test_stages_that_do_not_validate_better_are_left_out(store, tmp_path, monkeypatch, capsys,
                                                         improves, selection, left_out):
    """The trainer compares each stage's chosen checkpoint with the model it started from
    (here forced either way); a left-out stage returns the model to that start, so the
    final model scores as stage 1's checkpoint does."""
    from safetensors.torch import load_file

    from wsvad.training import trainer
    monkeypatch.setattr(trainer, "_stage_improves", lambda chosen, start: improves)
    spec, _ = store
    res = train(spec, "ssrl", tmp_path / "run",
                {"scales": "2x3,3x5", "iterations": 20, "batch_size": 8, "psr_dim": 16,
                 "stage_selection": selection}, seed=0, val_every=5, val_fraction=0.2,
                progress=False)
    assert res.metrics["validation"]["stages_left_out"] == left_out
    said = capsys.readouterr().out          # each stage's verdict, with its validation margin
    for stage in (2, 3):
        assert (f"stage {stage} kept: validation video AUC" in said) == improves
        assert (f"stage {stage} not better: validation video AUC" in said) == (not improves)
        assert (f"stage {stage} left out" in said) == (stage in left_out)
    model = load_checkpoint(tmp_path / "run" / "model")[0].eval()
    assert int(model.active) == 2
    assert model.active_scales() == [n for s, n in ((2, "2x3"), (3, "3x5")) if s not in left_out]
    if left_out == [2, 3]:
        stage1 = methods.create("ssrl", dim=16, scales="2x3,3x5", psr_dim=16)
        best = load_file(tmp_path / "run" / "stages" / "1" / "resume.safetensors")
        stage1.load_state_dict({k[5:]: v for k, v in best.items() if k.startswith("best.")})
        stage1.eval()
        batch = _batch(t=12, dp=8)
        torch.testing.assert_close(model.predict(batch).scores, stage1.predict(batch).scores)


def test_patch_stages_draw_their_own_batch_size(store, tmp_path, monkeypatch):
    """``patch_batch_size`` sets the videos a step in stages ≥ 2; stage 1 keeps ``batch_size``
    (and without it every stage does). Each stage's steps collate only the streams it reads."""
    from wsvad.training import trainer
    sizes: list[int] = []
    collated: list[set] = []

    class Recording(trainer.BalancedBags):
        def __init__(self, bags, per_class, *args, **kwargs):
            sizes.append(per_class)
            super().__init__(bags, per_class, *args, **kwargs)

        def next(self):
            batch = super().next()
            collated.append({k for k in ("features", "motion_grid", "motion_desc")
                             if getattr(batch, k) is not None} | set(batch.patches or {}))
            return batch

    monkeypatch.setattr(trainer, "BalancedBags", Recording)
    spec, _ = store
    for extra, expected in (({"patch_batch_size": 3}, [8, 3, 3]), ({}, [8, 8, 8])):
        sizes.clear()
        train(spec, "ssrl", tmp_path / f"run{len(extra)}",
              {"scales": "2x3,3x5", "iterations": 2, "batch_size": 8, "psr_dim": 16, **extra},
              seed=0, val_every=1, val_fraction=0.2, progress=False)
        assert sizes == expected
        stages = [collated[0], collated[2], collated[4]]             # two steps a stage
        assert stages == [{"features"}, {"features", "motion_grid", "2x3"},
                          {"features", "motion_grid", "2x3", "3x5"}]
        collated.clear()
    with pytest.raises(ConfigError, match="patch_batch_size"):
        methods.create("ssrl", dim=16, patch_batch_size=0)
