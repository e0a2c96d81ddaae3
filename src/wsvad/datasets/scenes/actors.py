"""Actors of the plaza: pedestrians (normal) and the anomalies — a fast vehicle or cyclist, a
person falling and lying still, two people fighting, an object left behind, a person running
against the flow. Each actor draws itself on the canvas for frame ``f`` and returns its box
(world pixels) and whether it is abnormal at that frame."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from wsvad.datasets.scenes.plaza import MARGIN, SceneStyle

Box = tuple[float, float, float, float]
KINDS = ("vehicle", "fall", "fight", "left_object", "against_flow")


@dataclass
class Look:
    """Colours of one person (RGB)."""

    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Look:
        def c(lo, hi):
            return tuple(int(v) for v in rng.integers(lo, hi, 3))
        skin = [(224, 180, 150), (190, 140, 105), (140, 95, 65), (95, 65, 45)]
        return cls(c(20, 240), c(15, 120), skin[int(rng.integers(len(skin)))])


def draw_person(canvas: np.ndarray, x: float, y: float, scale: float, look: Look,
                swing: float = 0.0, arms: float = 0.0, angle: float = 0.0) -> Box:
    """A person with feet at ``(x, y)`` (world pixels), legs swung by ``swing`` (−1…1), arms
    raised by ``arms`` (0…1), rotated by ``angle`` radians about the feet (π/2 = lying).
    Returns the box ``(x1, y1, x2, y2)``."""
    s = 1.15 * scale
    ca, sa = math.cos(angle), math.sin(angle)

    def pt(px: float, py: float) -> tuple[int, int]:
        rx, ry = px * ca - py * sa, px * sa + py * ca
        return int(round(x + MARGIN + s * rx)), int(round(y + MARGIN + s * ry))

    cv2.ellipse(canvas, pt(0, 0), (int(7 * s), int(2.5 * s)), 0, 0, 360, (60, 60, 60), -1)
    hip, shoulder = (0, -10), (0, -19)
    th = max(1, int(round(2.2 * s)))
    for side in (-1, 1):
        cv2.line(canvas, pt(*hip), pt(side * 3.5 * swing, 0), look.trousers, th)
        hand = (side * (3 + 6 * arms), -11 - 10 * arms + side * 2.5 * swing * (1 - arms))
        cv2.line(canvas, pt(*shoulder), pt(*hand), look.shirt, max(1, th - 1))
    cv2.ellipse(canvas, pt(0, -15), (int(3.8 * s), int(6.5 * s)), math.degrees(angle), 0, 360,
                look.shirt, -1)
    cv2.circle(canvas, pt(0, -25), max(2, int(3.3 * s)), look.skin, -1)
    corners = np.array([pt(-6, 0), pt(6, 0), pt(-6, -29), pt(6, -29)], float) - MARGIN
    return (*corners.min(0), *corners.max(0))


@dataclass
class Walker:
    """A pedestrian walking at ``speed`` px/frame from ``x0`` along a gently wandering line."""

    start: int
    x0: float
    y0: float
    speed: float
    look: Look
    drift: float = 0.0
    idle: bool = False
    phase: float = 0.0

    def position(self, f: int) -> tuple[float, float]:
        t = f - self.start
        wobble = 2 * math.sin(t / 17 + self.phase)
        return self.x0 + self.speed * t, self.y0 + self.drift * t + wobble

    def draw(self, canvas: np.ndarray, f: int, style: SceneStyle) -> tuple[Box | None, bool]:
        if f < self.start:
            return None, False
        x, y = self.position(f)
        t = f - self.start
        swing = 0.0 if self.idle else math.sin(self.phase + t * 0.35 * abs(self.speed) ** 0.5)
        return draw_person(canvas, x, y, style.depth_scale(y), self.look, swing,
                           angle=0.04 * math.sin(t / 9) if self.idle else 0.0), False


@dataclass
class AgainstFlow(Walker):
    """A person running against the scene's flow, abnormal whenever visible."""

    def draw(self, canvas, f, style):
        if f < self.start:
            return None, False
        x, y = self.position(f)
        swing = math.sin(self.phase + (f - self.start) * 0.9)
        return draw_person(canvas, x, y, style.depth_scale(y), self.look, swing, arms=0.3,
                           angle=-0.15 * np.sign(self.speed)), True


@dataclass
class Vehicle:
    """A small car or a cyclist crossing fast; abnormal whenever visible."""

    start: int
    x0: float
    y0: float
    speed: float
    color: tuple[int, int, int]
    cyclist: bool
    look: Look

    def draw(self, canvas, f, style):
        if f < self.start:
            return None, False
        x, y = self.x0 + self.speed * (f - self.start), self.y0
        s = style.depth_scale(y)
        if self.cyclist:
            for dx in (-8, 8):
                cv2.circle(canvas, (int(x + MARGIN + dx * s), int(y + MARGIN - 4 * s)),
                           max(2, int(5 * s)), (30, 30, 30), max(1, int(s * 1.5)))
            cv2.line(canvas, (int(x + MARGIN - 8 * s), int(y + MARGIN - 4 * s)),
                     (int(x + MARGIN + 8 * s), int(y + MARGIN - 4 * s)), self.color, 2)
            box = draw_person(canvas, x, y - 6 * s, s, self.look,
                              math.sin((f - self.start) * 1.1) * 0.5, angle=0.2 *
                              np.sign(self.speed))
            return (min(box[0], x - 14 * s), box[1], max(box[2], x + 14 * s), y + 2 * s), True
        w, h = 44 * s, 20 * s
        x1, y1 = int(x - w / 2 + MARGIN), int(y - h + MARGIN)
        cv2.ellipse(canvas, (int(x + MARGIN), int(y + MARGIN)), (int(w / 2 + 3), int(4 * s)), 0,
                    0, 360, (55, 55, 55), -1)
        cv2.rectangle(canvas, (x1, y1), (int(x1 + w), int(y1 + h)), self.color, -1)
        cv2.rectangle(canvas, (int(x1 + 0.25 * w), int(y1 + 2)), (int(x1 + 0.75 * w),
                      int(y1 + 0.45 * h)), (60, 80, 110), -1)
        return (x - w / 2, y - h, x + w / 2, y + 2), True


@dataclass
class Faller(Walker):
    """Walks in with the flow, falls at ``fall_at`` and lies still: abnormal from the fall."""

    fall_at: int = 0
    side: int = 1

    def draw(self, canvas, f, style):
        if f < self.start:
            return None, False
        if f < self.fall_at:
            return Walker.draw(self, canvas, f, style)
        x, y = self.position(self.fall_at)
        k = min(1.0, (f - self.fall_at) / 8)
        return draw_person(canvas, x, y, style.depth_scale(y), self.look, 0.2, arms=0.6 * k,
                           angle=self.side * k * math.pi / 2), True


@dataclass
class Fighters:
    """Two people meeting at ``(x, y)`` and fighting from ``start`` to ``end``."""

    start: int
    end: int
    x: float
    y: float
    looks: tuple[Look, Look]
    rng: np.random.Generator = field(repr=False, default_factory=np.random.default_rng)

    def draw(self, canvas, f, style):
        if f < self.start - 30:
            return None, False
        s = style.depth_scale(self.y)
        fighting = self.start <= f < self.end
        boxes = []
        for i, side in enumerate((-1, 1)):
            if fighting:
                jx, jy = self.rng.normal(0, 4.0 * s, 2)
                arms, swing, ang = self.rng.uniform(0.4, 1), self.rng.uniform(-1, 1), \
                    self.rng.normal(0, 0.25)
            else:  # walking towards the meeting point, then away
                t = (f - self.start) if f < self.start else (f - self.end)
                jx, jy = side * 1.2 * abs(t), 0.0
                arms, swing, ang = 0.0, math.sin(t * 0.4), 0.0
            boxes.append(draw_person(canvas, self.x + side * 7 * s + jx, self.y + jy, s,
                                     self.looks[i], swing, arms, ang))
        b = np.array(boxes)
        return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()), fighting


@dataclass
class LeftObject(Walker):
    """A person carrying a bag puts it down at ``drop_at`` and walks on; the bag stays.
    Abnormal from the drop, while the bag is unattended (its box is the bag's)."""

    drop_at: int = 0
    bag: tuple[int, int, int] = (40, 40, 90)

    def draw(self, canvas, f, style):
        if f < self.start:
            return None, False
        bx, by = self.position(min(f, self.drop_at))
        s = style.depth_scale(by)
        bx += 6 * s
        w, h = 13 * s, 11 * s
        if f >= self.drop_at:
            cv2.rectangle(canvas, (int(bx + MARGIN), int(by - h + MARGIN)),
                          (int(bx + w + MARGIN), int(by + MARGIN)), self.bag, -1)
        person = Walker.draw(self, canvas, f, style)[0]
        if f < self.drop_at:
            x, y = self.position(f)
            cv2.rectangle(canvas, (int(x + 5 * s + MARGIN), int(y - 12 * s + MARGIN)),
                          (int(x + 5 * s + w + MARGIN), int(y - 12 * s + h + MARGIN)),
                          self.bag, -1)
            return person, False
        return (bx, by - h, bx + w, by), True
