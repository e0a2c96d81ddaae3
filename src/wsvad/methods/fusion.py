"""Two-stream late fusion: one model per named part of the features, their scores averaged.

``--set fusion=late`` (methods that read ``features``: mil, rtfm, ssrl, clav; ``fusion=early``,
the default, is the papers' single model on the whole vector). The video field's two-stream
practice — Simonyan & Zisserman's RGB and flow networks, I3D's RGB and flow streams — trains a
network per modality and averages their predictions; here each member is the method itself
with ``input_parts`` set to one part (e.g. ``appearance``, ``motion``), trained on the same
batches. The members share no parameter and Adam/Adagrad update each parameter from its own
gradient, so one optimiser over both is two independent trainings; validation (checkpoint, τ)
sees the fused score.

Why: on the plaza scenes the two parts find different anomalies — MIL on the appearance part
alone finds the still ones (a fall, an object left behind), on the motion part alone the fast
ones — and MIL on their concatenation keeps less of each than their average does (README,
"Input normalisation"). On Ped2 the appearance part misleads and the average loses to the
single model. Which is better is a property of the data; the default stays the papers'.
With ``input_norm`` given per part (``appearance:log,motion:abs``, :mod:`wsvad.methods.inputs`)
each member reads its part in that part's mode: the appearance member the signed deviations,
the motion member their sizes.

Methods that train in stages (SSRL: clip features, then one patch scale a stage) run their
stages in step: every member begins stage s together, the run keeps the checkpoint validation
chooses for the fused score, and the next stage starts from it. Each SSRL member reads one part
of the clip features and every patch scale (the patches are one part, appearance, and are not
split); its heat map is the members' mean. WSSTAD alternates its two branches inside a step
(its own ``train_step``) and is not offered.

    s_t = (1 / P) Σ_p s_t^(p)        (the members' snippet scores, P parts)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from wsvad.data.batch import Batch
from wsvad.errors import ConfigError
from wsvad.methods.base import Localization, Method, MethodConfig, Output


class LateFusion(Method):
    """The members ``[P]`` of one method class, one per feature part; scores ``[B, T]`` their
    mean.

    Example:
        >>> from wsvad import methods
        >>> m = methods.create("mil", dim=6, parts=(("appearance", 4), ("motion", 2)),
        ...                    fusion="late")
        >>> type(m).__name__, m.name, [p.cfg.input_parts for p in m.members]
        ('LateFusion', 'mil', ['appearance', 'motion'])
    """

    def __init__(self, cls: type[Method], dim: int, cfg: MethodConfig,
                 parts: tuple[tuple[str, int], ...] = ()):
        super().__init__(dim, cfg, parts)
        names = [n.strip() for n in cfg.input_parts.split(",") if n.strip()] or \
            [n for n, _ in self.parts]
        if len(names) < 2:
            raise ConfigError(f"fusion=late trains one model per named part of the features; "
                              f"these have {len(names)} ({', '.join(names)}). Use fusion=early "
                              "(the default), or features with two or more parts (e.g. "
                              "`wsvad extract`'s appearance + motion)")
        member_cfg = lambda part: type(cfg).build({**cfg.to_dict(), "fusion": "early",  # noqa: E731
                                                   "input_parts": part})
        self.members = nn.ModuleList(cls(dim, member_cfg(n), parts) for n in names)
        first = self.members[0]
        self.name, self.needs, self.paper = cls.name, first.needs, cls.paper
        self.Config = cls.Config
        if type(first).train_step is not Method.train_step:
            raise ConfigError(f"fusion=late is not available for {cls.name}: it alternates "
                              "its parts inside a training step; use fusion=early")
        self.part_names = names

    # -- stages (SSRL): the members move through them together ---------------------------------
    def stage_count(self) -> int:
        return self.members[0].stage_count()

    def begin_stage(self, stage: int) -> None:
        for m in self.members:
            m.begin_stage(stage)

    def step_streams(self) -> tuple[str, ...] | None:
        wanted = [m.step_streams() for m in self.members]
        if any(w is None for w in wanted):
            return None
        return tuple(dict.fromkeys(s for w in wanted for s in w))

    def stage_batch_size(self) -> int:
        return self.members[0].stage_batch_size()

    def leave_out_stage(self, stage: int, dry_run: bool = False) -> bool:
        if not all(m.leave_out_stage(stage, dry_run=True) for m in self.members):
            return False
        return all([m.leave_out_stage(stage, dry_run) for m in self.members])

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        """Each member loads its own entries first (a member may build layers whose size it
        learns from its checkpoint, as SSRL's patch branches), then the whole as usual."""
        for i, m in enumerate(self.members):
            pre = f"members.{i}."
            m.load_state_dict({k[len(pre):]: v for k, v in state.items() if k.startswith(pre)},
                              strict, assign)
        return super().load_state_dict(state, strict, assign)

    # -- training ------------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, videos: Callable[[], Iterator[Batch]]) -> None:
        for m in self.members:
            m.fit(videos)

    def forward(self, batch: Batch) -> Output:
        outs = [m(batch) for m in self.members]
        extras = {f"{i}/scores": o.scores for i, o in enumerate(outs)}
        extras.update({f"{i}/{k}": v for i, o in enumerate(outs) for k, v in o.extras.items()})
        return Output(scores=torch.stack([o.scores for o in outs]).mean(0), extras=extras)

    def _member_output(self, output: Output, i: int) -> Output:
        pre = f"{i}/"
        return Output(scores=output.extras[pre + "scores"],
                      extras={k[len(pre):]: v for k, v in output.extras.items()
                              if k.startswith(pre) and k != pre + "scores"})

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        """Each member's terms, named ``part.term``; the objective is their sum."""
        return {f"{n}.{k}": v for i, (n, m) in enumerate(zip(self.part_names, self.members,
                                                             strict=True))
                for k, v in m.losses(batch, self._member_output(output, i)).items()}

    def video_score(self, output: Output) -> torch.Tensor:
        return torch.stack([m.video_score(self._member_output(output, i))
                            for i, m in enumerate(self.members)]).mean(0)

    def optimizer(self) -> torch.optim.Optimizer:
        """The members' optimiser (same class and settings) over every member's trainable
        parameters (a staged member freezes some)."""
        own = self.members[0].optimizer()
        return type(own)([p for p in self.parameters() if p.requires_grad], **own.defaults)

    def localize(self, batch: Batch, output: Output) -> list[Localization] | None:
        """The members' heat maps averaged (SSRL: same grids in every member); None when no
        member localises."""
        each = [m.localize(batch, self._member_output(output, i))
                for i, m in enumerate(self.members)]
        each = [e for e in each if e is not None]
        if not each:
            return None
        out = []
        for per_video in zip(*each, strict=True):
            maps = [loc.heatmaps for loc in per_video if loc.heatmaps is not None]
            out.append(replace(per_video[0], heatmaps=np.mean(maps, axis=0)
                               if len(maps) == len(per_video) else per_video[0].heatmaps))
        return out

    def graph_forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        outs = [m.graph_forward(inputs) for m in self.members]
        return {"scores": torch.stack([o["scores"] for o in outs]).mean(0)}
