"""The fixed camera's view: a textured plaza with a walkway, benches and planters, per-scene
lighting, sensor noise and camera jitter. Everything is drawn from one seeded RNG."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MARGIN = 8  # pixels rendered around the view so that camera jitter never shows an edge


@dataclass
class SceneStyle:
    """What varies between scenes: layout, palette, lighting, noise, jitter, flow direction."""

    width: int
    height: int
    ground: tuple[int, int, int]
    tile: int
    path_y: float          # walkway centre line, fraction of the height
    path_half: float       # walkway half-width in pixels
    flow: int              # +1: normal pedestrians walk left → right, -1: right → left
    brightness: float      # global gain
    gradient: float        # left-to-right lighting gradient (gain difference)
    flicker: float         # amplitude of slow brightness changes (clouds)
    noise: float           # sensor noise sigma, grey levels
    jitter: float          # camera shake, pixels (random walk, clipped to MARGIN)

    @classmethod
    def sample(cls, rng: np.random.Generator, width: int = 320, height: int = 240) -> SceneStyle:
        base = rng.uniform(95, 170)
        tint = rng.uniform(-18, 18, 3)
        return cls(width, height, tuple(int(np.clip(base + t, 0, 255)) for t in tint),
                   int(rng.integers(14, 34)), float(rng.uniform(0.45, 0.7)),
                   float(rng.uniform(28, 42)), int(rng.choice([-1, 1])),
                   float(rng.uniform(0.8, 1.15)), float(rng.uniform(-0.15, 0.15)),
                   float(rng.uniform(0.0, 0.05)), float(rng.uniform(1.0, 3.0)),
                   float(rng.uniform(0.0, 0.4)))

    def depth_scale(self, y: float) -> float:
        """Apparent size of an actor whose feet are at row ``y`` (farther = smaller)."""
        return 0.85 + 0.6 * float(np.clip(y / self.height, 0, 1))


def render_ground(style: SceneStyle, rng: np.random.Generator) -> np.ndarray:
    """``[H + 2·MARGIN, W + 2·MARGIN, 3]`` uint8 RGB: tiles, texture, walkway, furniture."""
    h, w = style.height + 2 * MARGIN, style.width + 2 * MARGIN
    img = np.empty((h, w, 3), np.float32)
    img[:] = style.ground
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    img += 10 * texture[..., None]
    t = style.tile
    for y in range(rng.integers(0, t), h, t):
        img[y:y + 1] *= 0.82
    for x in range(rng.integers(0, t), w, t):
        img[:, x:x + 1] *= 0.82
    # the walkway: a lighter band with kerbs
    cy = MARGIN + style.path_y * style.height
    y0, y1 = int(cy - style.path_half), int(cy + style.path_half)
    img[y0:y1] = img[y0:y1] * 0.7 + 0.3 * np.array([205, 200, 190], np.float32)
    img[max(0, y0 - 2):y0] *= 0.6
    img[y1:y1 + 2] *= 0.6
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 5)):  # benches and planters, kept off the walkway
        x = int(rng.uniform(20, w - 40))
        y = int(rng.choice([rng.uniform(15, max(16, y0 - 25)), rng.uniform(y1 + 10, h - 15)]))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + 34, y + 9), (110, 75, 45), -1)
            cv2.rectangle(img, (x, y), (x + 34, y + 9), (70, 45, 25), 1)
        else:
            cv2.circle(img, (x, y), 10, (90, 85, 80), -1)
            cv2.circle(img, (x, y), 8, (50, 120, 55), -1)
    return img


def light_field(style: SceneStyle) -> np.ndarray:
    """``[H + 2M, W + 2M, 1]`` gain map: global brightness and a horizontal gradient."""
    w = style.width + 2 * MARGIN
    ramp = np.linspace(-style.gradient / 2, style.gradient / 2, w, dtype=np.float32)
    return (style.brightness + ramp)[None, :, None]


class Camera:
    """Per-frame gain (slow flicker), jitter offset (bounded random walk) and sensor noise."""

    def __init__(self, style: SceneStyle, rng: np.random.Generator):
        self.style, self.rng = style, rng
        self.offset = np.zeros(2)
        self.phase = rng.uniform(0, 2 * np.pi)

    def step(self, frame_index: int) -> tuple[int, int, float]:
        """``(dx, dy, gain)`` for this frame."""
        if self.style.jitter > 0:
            self.offset = np.clip(0.7 * self.offset + self.rng.normal(0, self.style.jitter, 2),
                                  -MARGIN + 1, MARGIN - 1)
        gain = 1.0 + self.style.flicker * np.sin(self.phase + frame_index / 40.0)
        return int(round(self.offset[0])), int(round(self.offset[1])), float(gain)

    def expose(self, canvas: np.ndarray, light: np.ndarray, frame_index: int
               ) -> tuple[np.ndarray, int, int]:
        """The view ``[H, W, 3]`` uint8 and the jitter ``(dx, dy)`` applied to world pixels."""
        dx, dy, gain = self.step(frame_index)
        s = self.style
        y0, x0 = MARGIN + dy, MARGIN + dx
        view = canvas[y0:y0 + s.height, x0:x0 + s.width].astype(np.float32)
        view *= light[:, x0:x0 + s.width] * gain
        view += self.rng.normal(0, s.noise, view.shape).astype(np.float32)
        return np.clip(view, 0, 255).astype(np.uint8), dx, dy
