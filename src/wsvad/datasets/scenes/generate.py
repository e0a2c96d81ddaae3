"""Seeded surveillance-style videos with temporal and spatial ground truth.

A video is one scene (:class:`SceneStyle`): pedestrians walk along the walkway in the scene's
flow direction at ordinary speeds, some stroll across the plaza, some stand; an abnormal video
adds one anomaly of :data:`KINDS`. Frame labels are 1 while the anomalous actor is abnormal and
inside the view; boxes are that actor's (the bag, for a left object) in view pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from wsvad.datasets.scenes.actors import (
    KINDS,
    AgainstFlow,
    Faller,
    Fighters,
    LeftObject,
    Look,
    Vehicle,
    Walker,
)
from wsvad.datasets.scenes.plaza import Camera, SceneStyle, light_field, render_ground


@dataclass
class SceneVideo:
    """Ground truth of one generated video (the frames come from :func:`render_scene`)."""

    name: str
    seed: int
    kind: str | None            # None = normal video
    frames: int
    fps: float
    labels: np.ndarray = field(repr=False)          # [frames] uint8
    boxes: list[list[float]] = field(repr=False)    # rows (frame, x1, y1, x2, y2)
    camera: int | None = None

    @property
    def label(self) -> int:
        return int(self.kind is not None)


def _walkers(style: SceneStyle, rng: np.random.Generator, frames: int) -> list[Walker]:
    """Normal pedestrians: walkway walkers in the flow (some already in view), strollers
    crossing the plaza, and a few people standing."""
    w, h = style.width, style.height
    lane = style.path_y * h
    out: list[Walker] = []
    t = -int(rng.integers(60, 200))
    while t < frames:
        speed = style.flow * rng.uniform(0.8, 1.6)
        x0 = -25.0 if speed > 0 else w + 25.0
        if rng.random() < 0.75:
            y0, drift = lane + rng.uniform(-0.8, 0.8) * style.path_half, 0.0
        else:
            y0, drift = rng.uniform(0.15, 0.95) * h, rng.uniform(-0.25, 0.25)
        out.append(Walker(t, x0, y0, speed, Look.sample(rng), drift,
                          phase=rng.uniform(0, 6.3)))
        t += int(rng.integers(25, 70))
    for _ in range(rng.integers(0, 3)):
        out.append(Walker(0, rng.uniform(0.1, 0.9) * w, rng.uniform(0.2, 0.95) * h, 0.0,
                          Look.sample(rng), idle=True, phase=rng.uniform(0, 6.3)))
    return out


def _anomaly(kind: str, style: SceneStyle, rng: np.random.Generator, frames: int):
    w, h, flow = style.width, style.height, style.flow
    lane = style.path_y * h
    y = lane + rng.uniform(-0.6, 0.6) * style.path_half
    start = int(rng.uniform(0.15, 0.45) * frames)
    if kind == "vehicle":
        d = int(rng.choice([-1, 1]))
        speed = d * rng.uniform(5.0, 8.0)
        return Vehicle(start, -40.0 if d > 0 else w + 40.0, y, speed,
                       tuple(int(v) for v in rng.integers(30, 230, 3)), bool(rng.random() < 0.5),
                       Look.sample(rng))
    if kind == "against_flow":
        speed = -flow * rng.uniform(4.0, 5.5)
        return AgainstFlow(start, -25.0 if speed > 0 else w + 25.0, y, speed, Look.sample(rng),
                           phase=rng.uniform(0, 6.3))
    if kind == "fall":
        speed = flow * rng.uniform(0.9, 1.4)
        x_fall = rng.uniform(0.3, 0.7) * w
        x0 = -25.0 if speed > 0 else w + 25.0
        walk = int(abs((x_fall - x0) / speed))
        return Faller(start - walk, x0, y, speed, Look.sample(rng), phase=rng.uniform(0, 6.3),
                      fall_at=start, side=int(rng.choice([-1, 1])))
    if kind == "fight":
        end = start + int(rng.uniform(0.35, 0.6) * frames)
        return Fighters(start, min(end, frames), rng.uniform(0.3, 0.7) * w, y,
                        (Look.sample(rng), Look.sample(rng)),
                        np.random.default_rng(rng.integers(1 << 31)))
    if kind == "left_object":
        speed = flow * rng.uniform(0.9, 1.4)
        x_drop = rng.uniform(0.3, 0.7) * w
        x0 = -25.0 if speed > 0 else w + 25.0
        return LeftObject(start - int(abs((x_drop - x0) / speed)), x0, y, speed,
                          Look.sample(rng), phase=rng.uniform(0, 6.3), drop_at=start,
                          bag=tuple(int(v) for v in rng.integers(20, 200, 3)))
    raise ValueError(f"unknown anomaly kind '{kind}'; known: {', '.join(KINDS)}")


def render_scene(name: str, seed: int, kind: str | None, seconds: float = 8.0,
                 fps: float = 25.0, width: int = 320, height: int = 240,
                 camera: int | None = None) -> tuple[SceneVideo, Iterator[np.ndarray]]:
    """Ground truth and a generator of RGB frames ``[H, W, 3]`` (the ground truth arrays fill
    in as the frames are drawn; they are complete once the generator is exhausted).

    ``camera`` seeds the scene (layout, palette, noise, jitter, flow direction): videos of one
    camera share it, as the videos of a surveillance dataset share a few cameras; ``seed``
    draws the people, the anomaly and the day's lighting. Default: ``camera = seed``.

    Example:
        >>> gt, frames = render_scene("s0", seed=0, kind="vehicle", seconds=2)
        >>> [f.shape for f in frames][0], gt.frames, gt.label
        ((240, 320, 3), 50, 1)
    """
    cam_rng = np.random.default_rng(seed if camera is None else 7919 * camera + 17)
    style = SceneStyle.sample(cam_rng, width, height)
    ground = render_ground(style, cam_rng)
    rng = np.random.default_rng(seed)
    style.brightness *= float(rng.uniform(0.9, 1.1))
    frames = int(round(seconds * fps))
    actors = _walkers(style, rng, frames)
    if kind is not None:
        actors.append(_anomaly(kind, style, rng, frames))
    gt = SceneVideo(name, seed, kind, frames, fps, np.zeros(frames, np.uint8), [], camera)
    return gt, _frames(gt, style, ground, rng, actors)


def _frames(gt: SceneVideo, style: SceneStyle, ground: np.ndarray, rng: np.random.Generator,
            actors: list) -> Iterator[np.ndarray]:
    light = light_field(style)
    camera = Camera(style, rng)
    for f in range(gt.frames):
        canvas = ground.copy()
        drawn = []
        # draw far (small y) first so nearer actors overlap them
        for actor in sorted(actors, key=lambda a: _feet_y(a, f)):
            box, abnormal = actor.draw(canvas, f, style)
            if abnormal and box is not None:
                drawn.append(box)
        view, dx, dy = camera.expose(canvas, light, f)
        for x1, y1, x2, y2 in drawn:
            b = np.clip([x1 - dx, y1 - dy, x2 - dx, y2 - dy], 0,
                        [style.width - 1, style.height - 1] * 2)
            if b[2] - b[0] >= 2 and b[3] - b[1] >= 2:  # inside the view
                gt.labels[f] = 1
                gt.boxes.append([f, *(round(float(v), 1) for v in b)])
        yield view


def _feet_y(actor, f: int) -> float:
    if isinstance(actor, Walker) and f >= actor.start:
        return actor.position(f)[1]
    return getattr(actor, "y", getattr(actor, "y0", 0.0))
