"""``clav`` — Cho et al., "Look Around for Anomalies: Weakly-supervised Anomaly Detection via
Context-Motion Relational Learning" (CVPR'23): CLAV + relative distance learning + CoMo.

Per video (crops folded into the batch, as RTFM does), ``B [T, D]`` →

* **ICA** (Eq. 1–3, :class:`~wsvad.methods.blocks.ImplicitClassActivation`): Conv1D D → 2D,
  F = element-wise max of the two halves.
* **Scores**: FC1 D → 512 → FC2 512 → 128 (the embedding the CS branch reads) → FC3 128 → 1, S.
* **CS** (Eq. 4, training only): CSN / CSA decode the 128-d embedding of the top-K normal /
  abnormal snippets back to F (L1 to F_topk).
* **Relative distance** (Eq. 5–7) on F and on F_R: C_n = mean pairwise cosine of a normal
  video's snippets (T², the diagonal included), C_top = cosine of the mean top-K normal and mean
  top-K abnormal features, L = max(C_top + margin − C_n, 0) + (1 − C_n).
* **CoMo** (Sect. 3.3): dynamic path Conv1D(1,1,512) – ReLU – Conv1D(1,1,1) → S_int (L1 to the
  ``motion`` stream); the N = 0.8·T snippets of lowest *predicted* motion go through the context
  path Conv1D(3,1,D) – ReLU (the context features) and FC D → 512 → C (sigmoid) → S_obj (L1 to
  the ``context`` stream, Eq. 8); a GloRe graph unit (Chen et al. 2019; n = 32 nodes, 128
  states) projects F and the context features into node × state space, propagates each
  (node-wise then state-wise 1-D convolutions, the "I − A" residual), concatenates the two along
  the states and fuses them node- and state-wise into R, and re-projects R with F's projection
  into time: F_R ``[T, 128]``; FC 128 → 1 → S_R.
* **Loss** (Eq. 9–10): BCE on the top-K (K = 3) of S and of S_R + c_s·L_cs (1) +
  d·(L_dist(F) + L_dist(F_R)) (10) + L_int + L_obj + λ_smooth·smoothness + λ_sparse·sparsity.
  Adam 1e-3, weight decay 5e-4, margin 0.3, T = 16 (``--set segments=8`` for ShanghaiTech/Avenue
  as the paper does), 32 + 32 videos per batch (UCF-Crime's 64).
* **Test score**: S + α·S_R (α = 0.1, the paper's UCF-Crime/Avenue value; 1, 0.4 for XD/ST).

Choices the paper leaves open (there is no public code), each with its reason:

- *Test score sign.* The extracted text reads "S^+ - S^R"; both S and S_R are trained towards 1
  on abnormal snippets by the same BCE (Eq. 9), so subtracting S_R would reward what both
  branches call normal. We read it as S + α·S_R. It is divided by 1 + α to stay in [0, 1]
  (a monotone rescaling: every ranking metric is unchanged).
- *ICA kernel*: 1 (the module "operates temporal-wisely", snippet by snippet, as the maxout of
  the face-recognition work it follows); ``ica_kernel=3`` widens it.
- *Dropout*: 0.7 after FC1 and FC2 (RTFM's classifier, whose 512-128-1 layout the paper keeps).
- *CS decoders*: FC 128 → 512 → D with ReLU (the mirror of FC1/FC2); targets are not detached
  (the loss is meant to make F itself predictable per class).
- *Motion target*: the ``motion`` stream (mean optical-flow magnitude) divided by its 99th
  percentile over the normal training snippets (a fitted buffer), so L_int is scale-free.
- *Context features for the graph*: the N context-path outputs (a sequence), not only their mean
  F_cont — a single vector would make the node projection rank one; F_cont (the mean) is still
  returned in ``extras``.
- *GloRe normalisation*: node states are divided by the number of snippets (GloRe's
  ``normalize`` option) so that a 12-snippet training bag and a 5000-snippet test video give
  states of the same scale.
- *Smoothness / sparsity*: on the abnormal videos' S, Σ(ΔS)² and mean |S| with RTFM's official
  8e-4 and 8e-3 (the paper: "the same ... as [31, 33]").
- *Context pseudo-labels*: a COCO YOLOv5 is not available offline. The ``context`` stream of
  ``wsvad extract`` holds EfficientNet-Lite0's ImageNet probabilities; ``context_groups``
  ``surveillance`` (default) sums them into eight groups (person, two-wheeler, vehicle, bag,
  cart, street, animal, other — :mod:`wsvad.data.context_groups`), ``none`` keeps the
  1000 classes. A user's detector can supply any ``[T, K]`` class scores in [0, 1] as the
  ``context`` stream (``none`` then uses them as they are; grouping needs 1000 ImageNet columns).
- *Input*: standardised on normal training snippets (``input_norm: log``, as every method
  here — :mod:`wsvad.methods.inputs`); ``none`` is the paper's raw input.

Ablation switches (paper Table 2): ``ica``, ``cs``, ``como``, ``dist`` (each true by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wsvad.data.batch import Batch
from wsvad.data.context_groups import GROUP_NAMES, IMAGENET_CLASSES, group_matrix
from wsvad.errors import ConfigError, DataError
from wsvad.methods import losses as L
from wsvad.methods.base import FeatureConfig, Method, Output, register
from wsvad.methods.blocks import ImplicitClassActivation, gather_time, topk_indices, xavier_init


@dataclass
class CLAVConfig(FeatureConfig):
    batch_size: int = 32
    segments: int = 16
    lr: float = 1e-3
    weight_decay: float = 5e-4
    iterations: int = 2000
    k: int = 3
    margin: float = 0.3
    lambda_cs: float = 1.0          # c_s
    lambda_dist: float = 10.0       # d
    lambda_aux: float = 1.0         # L_aux = L_int + L_obj (Eq. 10: unweighted)
    lambda_smooth: float = 8e-4
    lambda_sparse: float = 8e-3
    alpha: float = 0.1              # test score S + α·S_R
    dropout: float = 0.7
    nodes: int = 32                 # n
    states: int = 128               # st
    context_share: float = 0.8      # N = 0.8·T
    ica_kernel: int = 1
    context_groups: str = "auto"
    ica: bool = True
    cs: bool = True
    como: bool = True
    dist: bool = True

    CHOICES = {**FeatureConfig.CHOICES, "context_groups": ("auto", "surveillance", "none")}

    def validate(self) -> None:
        super().validate()
        for key in ("nodes", "states", "ica_kernel"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"config {key}={getattr(self, key)!r}: must be ≥ 1")
        if self.ica_kernel % 2 == 0:
            raise ConfigError(f"config ica_kernel={self.ica_kernel}: must be odd (same length)")
        if not 0 < self.context_share <= 1:
            raise ConfigError(f"config context_share={self.context_share}: allowed (0, 1]")


class GloRe(nn.Module):
    """Node × state projection and graph reasoning (Chen et al. 2019), for CoMo.

    ``project``: ``[N, L, D]`` → projection ``P [N, n, L]`` and node states ``V [N, n, st]``
    (V = P · XW_s / L). ``propagate``: V + node-wise conv (the "I − A" step), ReLU, then a
    state-wise linear map.
    """

    def __init__(self, dim: int, nodes: int, states: int):
        super().__init__()
        self.state = nn.Linear(dim, states)
        self.proj = nn.Linear(dim, nodes)
        self.adj = nn.Conv1d(nodes, nodes, 1)
        self.update = nn.Linear(states, states, bias=False)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.proj(x).transpose(1, 2)                         # [N, n, L]
        v = p @ self.state(x) / x.shape[1]                        # [N, n, st]
        return p, v

    def propagate(self, v: torch.Tensor) -> torch.Tensor:
        return self.update(F.relu(v + self.adj(v)))              # [N, n, st]


@register
class CLAV(Method):
    """Class-activated features, relative distance learning and context–motion relations.

    Example:
        >>> import torch; from wsvad.data import Batch
        >>> m = CLAV(64, CLAVConfig.build({"batch_size": 2}))
        >>> b = Batch(torch.rand(4, 1, 16, 64), torch.tensor([0., 0., 1., 1.]),
        ...           motion=torch.rand(4, 16), context=torch.rand(4, 16, 5))
        >>> out = m(b)
        >>> out.scores.shape, sorted(m.losses(b, out))
        (torch.Size([4, 16]), ['bce', 'class_specific', 'distance', 'motion', 'object', \
'smoothness', 'sparsity'])
    """

    name = "clav"
    Config = CLAVConfig
    needs = ("features", "motion", "context")
    paper = "Cho et al., CVPR 2023"

    def __init__(self, dim: int, cfg: CLAVConfig, parts: tuple[tuple[str, int], ...] = (),
                 context_dim: int | None = None):
        super().__init__(dim, cfg, parts)
        self.ica = ImplicitClassActivation(dim, cfg.ica_kernel) if cfg.ica else None
        self.fc1, self.fc2, self.fc3 = nn.Linear(dim, 512), nn.Linear(512, 128), \
            nn.Linear(128, 1)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.cs:
            self.csn, self.csa = (nn.Sequential(nn.Linear(128, 512), nn.ReLU(),
                                                nn.Linear(512, dim)) for _ in range(2))
        self.register_buffer("motion_scale", torch.ones(()))
        self.context_dim = None
        if cfg.como:
            self.dynamic = nn.Sequential(nn.Conv1d(dim, 512, 1), nn.ReLU(), nn.Conv1d(512, 1, 1))
            self.context_conv = nn.Conv1d(dim, dim, 3, padding=1)
            self.graph, self.graph_ctx = GloRe(dim, cfg.nodes, cfg.states), \
                GloRe(dim, cfg.nodes, cfg.states)
            self.fuse_state = nn.Linear(2 * cfg.states, cfg.states)
            self.fuse_node = nn.Conv1d(cfg.nodes, cfg.nodes, 1)
            self.relational = nn.Linear(cfg.states, 1)
            if context_dim is not None:
                self._build(context_dim)
        xavier_init(self)

    # -- the context head, once the width of the context stream is known ---------------------
    def _grouped(self, k: int) -> bool:
        mode = self.cfg.context_groups
        if mode == "surveillance" and k != IMAGENET_CLASSES:
            raise DataError(f"clav: context_groups=surveillance groups the 1000 ImageNet "
                            f"probabilities of `wsvad extract`; this context stream has {k} "
                            "classes — set context_groups=none (or auto) to use a detector's "
                            "own classes")
        return mode == "surveillance" or (mode == "auto" and k == IMAGENET_CLASSES)

    def _build(self, k: int) -> None:
        self.context_dim = k
        grouped = self._grouped(k)
        self.object_head = nn.Sequential(nn.Linear(self.dim, 512), nn.ReLU(),
                                         nn.Linear(512, len(GROUP_NAMES) if grouped else k))
        xavier_init(self.object_head)
        self.register_buffer("groups", torch.from_numpy(group_matrix()) if grouped else None)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        if self.cfg.como and self.context_dim is None and "object_head.2.weight" in state:
            self._build(IMAGENET_CLASSES if "groups" in state else
                        int(state["object_head.2.weight"].shape[0]))
        return super().load_state_dict(state, strict, assign)

    @torch.no_grad()
    def fit(self, videos) -> None:
        """Input statistics (base class), the motion scale (99th percentile of the normal
        training snippets' motion) and the context head's width."""
        super().fit(videos)
        normal_motion = []
        for b in videos():
            if self.cfg.como and self.context_dim is None and b.context is not None:
                self._build(b.context.shape[-1])
            if float(b.label[0]) <= 0.5 and b.motion is not None:
                normal_motion.append(b.motion.reshape(-1))
        if normal_motion:
            q = torch.quantile(torch.cat(normal_motion).double(), 0.99).item()
            self.motion_scale.fill_(max(q, 1e-6))

    # -- forward -------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Output:
        x = self.inputs(batch)                                           # [B, C, T, D]
        b, c, t, d = x.shape
        x = x.reshape(b * c, t, d)
        f = self.ica(x) if self.ica is not None else x                  # F [B·C, T, D]
        emb = self.drop(F.relu(self.fc2(self.drop(F.relu(self.fc1(f))))))  # [B·C, T, 128]
        s = torch.sigmoid(self.fc3(emb)).squeeze(-1)                     # S [B·C, T]
        extras = {"F": f, "S": s, "embedding": emb}
        scores = s
        if self.cfg.como:
            extras.update(self._como(f, batch, c))
            scores = (s + self.cfg.alpha * extras["S_R"]) / (1 + self.cfg.alpha)
        return Output(scores=scores.view(b, c, t).mean(1), extras=extras)

    def _como(self, f: torch.Tensor, batch: Batch, crops: int) -> dict[str, torch.Tensor]:
        """CoMo on ``F [N, T, D]``: S_int, the context snippets, F_R, S_R (Sect. 3.3)."""
        n, t, d = f.shape
        s_int = self.dynamic(f.transpose(1, 2)).squeeze(1)               # [N, T]
        keep = context_count(t, self.cfg.context_share)
        low = s_int.detach().topk(keep, dim=1, largest=False).indices.sort(dim=1).values
        ctx_in = f.gather(1, low[..., None].expand(-1, -1, d))           # [N, N_c, D]
        ctx = F.relu(self.context_conv(ctx_in.transpose(1, 2))).transpose(1, 2)
        p, v = self.graph.project(f)
        _, v_ctx = self.graph_ctx.project(ctx)
        v, v_ctx = self.graph.propagate(v), self.graph_ctx.propagate(v_ctx)
        r = self.fuse_state(torch.cat([v, v_ctx], dim=-1))               # [N, n, st]
        r = F.relu(r + self.fuse_node(r))
        f_r = p.transpose(1, 2) @ r                                      # F_R [N, T, st]
        s_r = torch.sigmoid(self.relational(f_r)).squeeze(-1)            # S_R [N, T]
        out = {"S_int": s_int, "context_index": low, "context_features": ctx,
               "F_cont": ctx.mean(1), "F_R": f_r, "S_R": s_r}
        if self.context_dim is None and batch.context is not None:
            self._build(batch.context.shape[-1])
        if self.context_dim is not None:
            out["S_obj"] = torch.sigmoid(self.object_head(ctx))           # [N, N_c, C]
        return out

    # -- losses --------------------------------------------------------------------------------
    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        cfg, ex = self.cfg, output.extras
        crops = ex["F"].shape[0] // len(batch.label)
        label = batch.label.repeat_interleave(crops)                     # per folded row
        abn, nor = label > 0.5, label <= 0.5
        s = ex["S"]
        idx = topk_indices(s, cfg.k)                                     # [N, k]
        top = [gather_time(s, idx)]
        if cfg.como:
            idx_r = topk_indices(ex["S_R"], cfg.k)
            top.append(gather_time(ex["S_R"], idx_r))
        top_scores = torch.cat(top, dim=1)                                # Eq. 9
        terms = {"bce": L.bce(top_scores, label[:, None].expand_as(top_scores))}
        if cfg.cs:
            terms["class_specific"] = cfg.lambda_cs * (
                self._reconstruct(self.csn, ex, idx, nor) + self._reconstruct(self.csa, ex, idx,
                                                                              abn))
        if cfg.dist:
            dist = relative_distance(ex["F"][nor], ex["F"][abn], idx[nor], idx[abn], cfg.margin)
            if cfg.como:
                dist = dist + relative_distance(ex["F_R"][nor], ex["F_R"][abn], idx_r[nor],
                                                idx_r[abn], cfg.margin)
            terms["distance"] = cfg.lambda_dist * dist
        if cfg.como:
            target = (batch.motion / self.motion_scale).repeat_interleave(crops, dim=0)
            terms["motion"] = cfg.lambda_aux * (ex["S_int"] - target).abs().mean()
            if "S_obj" in ex:
                terms["object"] = cfg.lambda_aux * (ex["S_obj"] -
                                                    self._pseudo_labels(batch, ex, crops)
                                                    ).abs().mean()
        s_a = s[abn]
        terms["smoothness"] = cfg.lambda_smooth * L.smoothness(s_a)
        terms["sparsity"] = cfg.lambda_sparse * s_a.abs().mean()
        return terms

    def _reconstruct(self, decoder: nn.Module, ex: dict, idx: torch.Tensor,
                     rows: torch.Tensor) -> torch.Tensor:
        """Eq. 4, one class: L1 between the decoded top-K embeddings and the top-K F."""
        if not rows.any():
            return ex["F"].sum() * 0
        i = idx[rows]
        emb = ex["embedding"][rows].gather(1, i[..., None].expand(-1, -1, 128))
        f = ex["F"][rows]
        target = f.gather(1, i[..., None].expand(-1, -1, f.shape[-1]))
        return (decoder(emb) - target).abs().mean()

    def _pseudo_labels(self, batch: Batch, ex: dict, crops: int) -> torch.Tensor:
        """O: the context stream at the context snippets, grouped when configured."""
        o = batch.context.repeat_interleave(crops, dim=0)                 # [N, T, K]
        low = ex["context_index"]
        o = o.gather(1, low[..., None].expand(-1, -1, o.shape[-1]))
        return o if self.groups is None else o @ self.groups

    def check_input(self, batch: Batch) -> None:
        super().check_input(batch)
        if self.cfg.como and self.context_dim is not None and batch.context is not None \
                and batch.context.shape[-1] != self.context_dim:
            raise DataError(f"clav: context stream has {batch.context.shape[-1]} classes per "
                            f"snippet, the model was trained with {self.context_dim}")


def context_count(t: int | torch.Tensor, share: float) -> int | torch.Tensor:
    """N = max(1, round(share · T)) context snippets; while tracing (ONNX export) T is a tensor
    and so is N, which keeps the graph's length dynamic.

    >>> context_count(16, 0.8), int(context_count(torch.tensor(16), 0.8))
    (13, 13)
    """
    if isinstance(t, torch.Tensor):
        return torch.round(t * share).clamp_min(1).long()
    return max(1, round(share * t))


def relative_distance(fn: torch.Tensor, fa: torch.Tensor, idx_n: torch.Tensor,
                      idx_a: torch.Tensor, margin: float) -> torch.Tensor:
    """Relative distance loss (Eq. 5–7) of normal ``fn [Bn, T, D]`` and abnormal ``fa [Ba, T, D]``
    videos paired row by row; ``idx_* [B, K]`` are the top-K score snippets.

    Example:
        >>> fn = torch.tensor([[[1., 0.], [0., 1.]]]); fa = torch.tensor([[[1., 0.], [1., 0.]]])
        >>> i = torch.tensor([[0]])
        >>> # C_n = (1 + 0 + 0 + 1) / 4 = 0.5; C_top = cos([1,0],[1,0]) = 1
        >>> round(relative_distance(fn, fa, i, i, 0.3).item(), 4)   # max(1.3-0.5, 0) + 0.5
        1.3
    """
    if len(fn) == 0 or len(fa) == 0:
        return fn.sum() * 0 + fa.sum() * 0
    u = F.normalize(fn, dim=-1)
    c_n = (u @ u.transpose(1, 2)).mean(dim=(1, 2))                      # [Bn]  Eq. 5
    top_n = gather_time(fn[:, None], idx_n).squeeze(1).mean(1)          # [Bn, D]
    top_a = gather_time(fa[:, None], idx_a).squeeze(1).mean(1)          # [Ba, D]
    top_n, top_a = L.paired(top_n, top_a)
    c_n_pair, _ = L.paired(c_n, top_a)
    c_top = F.cosine_similarity(top_n, top_a, dim=-1)
    return ((c_top + margin - c_n_pair).clamp_min(0) + (1 - c_n_pair)).mean()   # Eq. 7
