"""Synthetic RGB-depth pairs: procedural 3-D scenes rendered with exact per-pixel depth.

A scene is a pinhole :class:`Camera` plus a list of primitives (:class:`Plane`,
:class:`Box`, :class:`Sphere`) with procedural materials and one directional light.
:func:`render_scene` ray-casts every pixel analytically (vectorised NumPy: plane equation,
slab method for boxes, quadratic for spheres), keeps the nearest hit, and shades it
(Lambertian + ambient, hard shadows, a little haze). Depth is z-depth along the optical
axis, like the ZED's depth maps, written in the official format (docs/references.md#depth-data): uint16
millimetres, 0 = unknown — beyond ``max_depth_m`` (sky, far walls) and nearer than 0.4 m.

:func:`random_scene` draws rooms and outdoor yards with boxes and spheres at random poses
seen from a random camera height, pitch and roll; :func:`synth_depth` writes a dataset of
them (``ROOT/{train,val}/{rgb,depth}/<name>.png`` plus ``ROOT/synth.json``). Scene ``i``
depends only on ``(seed, i)``, so a larger dataset extends a smaller one.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np

from maikit.data.depth import DEPTH_HW, MIN_DEPTH_M, write_depth_mm
from maikit.errors import MaikitError
from maikit.io import list_pngs, write_json, write_png
from maikit.taskspec import DEPTH

SYNTH_VERSION = 1
DEFAULT_MAX_DEPTH_M = 20.0  # the ZED reaches 50 m (depth report §2.1), but coarsely; keep the range dense

# ZED-like intrinsics at VGA (an assumption: the organisers published no calibration).
# The original ZED's datasheet gives 90° (H) x 60° (V) x 110° (D) on its 16:9 2K frames,
# 2208x1242 per eye (Stereolabs' depth docs quote "up to 110°"), i.e. fx ~ 1104 px there.
# The challenge frames are 640x480 (depth report §2.1); taking them as a centred 4:3 crop of the
# 2K frame (1656x1242) scaled to 640x480 gives f = 1104 * 480 / 1242 ~ 427 px (~74° H).
ZED_2K_WIDTH, ZED_2K_HEIGHT, ZED_HFOV_DEG = 2208, 1242, 90.0
ZED_VGA_FOCAL_PX = (ZED_2K_WIDTH / 2) / math.tan(math.radians(ZED_HFOV_DEG / 2)) * 480 / ZED_2K_HEIGHT

_EPS = 1e-6


# --------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Camera:
    """Pinhole camera. World frame: x right, y forward, z up (metres).

    ``rotation`` is camera -> world with columns (right, down, forward), i.e. OpenCV camera
    axes; pixel (u, v) looks along ``R @ ((u - cx) / fx, (v - cy) / fy, 1)``, so the ray
    parameter of a hit is its z-depth.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    position: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]

    @classmethod
    def looking(
        cls,
        height_m: float,
        pitch_deg: float = 0.0,
        yaw_deg: float = 0.0,
        roll_deg: float = 0.0,
        xy: tuple[float, float] = (0.0, 0.0),
        width: int = DEPTH_HW[1],
        height: int = DEPTH_HW[0],
        focal_px: float = ZED_VGA_FOCAL_PX,
        cx: float | None = None,
        cy: float | None = None,
    ) -> "Camera":
        """Camera at ``height_m`` above the ground, pitched down by ``pitch_deg``, turned
        left-to-right by ``yaw_deg`` and rolled clockwise by ``roll_deg``."""
        p, y, r = (math.radians(a) for a in (pitch_deg, yaw_deg, roll_deg))
        fwd = np.array([math.sin(y) * math.cos(p), math.cos(y) * math.cos(p), -math.sin(p)])
        right = np.array([math.cos(y), -math.sin(y), 0.0])
        down = np.cross(fwd, right)
        right, down = math.cos(r) * right + math.sin(r) * down, -math.sin(r) * right + math.cos(r) * down
        rot = np.stack([right, down, fwd], axis=1)
        return cls(
            width=width,
            height=height,
            fx=focal_px,
            fy=focal_px,
            cx=(width - 1) / 2 if cx is None else cx,
            cy=(height - 1) / 2 if cy is None else cy,
            position=(float(xy[0]), float(xy[1]), float(height_m)),
            rotation=tuple(tuple(float(v) for v in row) for row in rot),
        )

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Origin (3,) and world directions (3, H, W) whose camera-z component is 1."""
        u = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        rot = np.asarray(self.rotation)
        # R @ (u, v, 1) for every pixel, one contiguous plane per world axis
        dirs = rot[:, 0, None, None] * u[None, None, :] + rot[:, 1, None, None] * v[None, :, None] + rot[:, 2, None, None]
        return np.asarray(self.position, np.float64), np.ascontiguousarray(dirs)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (3, N) -> pixel column u, row v and z-depth."""
        cam = np.asarray(self.rotation).T @ (points - np.asarray(self.position)[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.fx * cam[0] / cam[2] + self.cx, self.fy * cam[1] / cam[2] + self.cy, cam[2]


@dataclass(frozen=True)
class Material:
    """Procedural solid texture: ``kind`` in plain/checker/stripes/noise, two colours
    (linear RGB 0-1) mixed by the pattern, ``scale`` = pattern period in metres."""

    kind: str = "plain"
    colour_a: tuple[float, float, float] = (0.6, 0.6, 0.6)
    colour_b: tuple[float, float, float] = (0.3, 0.3, 0.3)
    scale: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class Plane:
    """Infinite plane ``normal . p = offset`` (normal need not be unit length).

    Room walls and ceilings set ``casts_shadow=False``: the light stands for the room's
    lamps, which a ceiling must not block.
    """

    normal: tuple[float, float, float]
    offset: float
    material: Material = Material()
    casts_shadow: bool = True


@dataclass(frozen=True)
class Box:
    """Box with half extents ``half_size``, turned by ``yaw_deg`` about the vertical axis."""

    centre: tuple[float, float, float]
    half_size: tuple[float, float, float]
    yaw_deg: float = 0.0
    material: Material = Material()


@dataclass(frozen=True)
class Sphere:
    centre: tuple[float, float, float]
    radius: float
    material: Material = Material()


Primitive = Union[Plane, Box, Sphere]


@dataclass(frozen=True)
class Scene:
    camera: Camera
    primitives: tuple[Primitive, ...]
    light_dir: tuple[float, float, float] = (0.3, -0.4, 0.85)  # towards the light
    light_colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.3
    sky_horizon: tuple[float, float, float] = (0.75, 0.82, 0.9)
    sky_zenith: tuple[float, float, float] = (0.35, 0.5, 0.8)
    haze_m: float = 0.0  # e-folding distance of the haze; 0 = none
    shadows: bool = True
    exposure: float = 1.0
    noise_sigma: float = 0.0  # sensor noise, in 8-bit levels
    max_depth_m: float = DEFAULT_MAX_DEPTH_M
    min_depth_m: float = MIN_DEPTH_M
    seed: int = 0  # sensor noise


@dataclass
class Rendered:
    rgb: np.ndarray  # HxWx3 uint8
    depth_m: np.ndarray  # HxW float64 z-depth in metres, inf where no surface
    depth_mm: np.ndarray  # HxW uint16 in the file format: 0 beyond max / below min range
    hit: np.ndarray  # HxW int: index of the visible primitive, -1 for sky


# --------------------------------------------------------------------------------------
# Ray casting
# --------------------------------------------------------------------------------------
def _box_frame(box: Box) -> np.ndarray:
    """Box frame -> world rotation (about the vertical axis)."""
    a = math.radians(box.yaw_deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])


def _column(origin: np.ndarray) -> np.ndarray:
    origin = np.asarray(origin, np.float64)
    return origin[:, None] if origin.ndim == 1 else origin


def intersect(prim: Primitive, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Ray parameter of the first hit in front of each ray's origin, (N,), inf = miss.

    Vectors are stored as (3, N) arrays (one contiguous row per coordinate). ``origin`` is
    (3,) or (3, N); ``dirs`` (3, N), not necessarily unit length.
    """
    o = _column(origin)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(prim, Plane):
            n = np.asarray(prim.normal, np.float64)
            t = (prim.offset - n @ o) / (n @ dirs)
            return np.where(np.isfinite(t) & (t > _EPS), t, np.inf)
        if isinstance(prim, Sphere):
            oc = o - np.asarray(prim.centre)[:, None]
            a = (dirs * dirs).sum(axis=0)
            b = (dirs * oc).sum(axis=0)
            c = (oc * oc).sum(axis=0) - prim.radius**2
            disc = b * b - a * c
            root = np.sqrt(np.maximum(disc, 0))
            t_near, t_far = (-b - root) / a, (-b + root) / a
            t = np.where(t_near > _EPS, t_near, t_far)
            return np.where((disc >= 0) & (t > _EPS), t, np.inf)
        if isinstance(prim, Box):
            # slab method in the box frame
            rot_t = _box_frame(prim).T
            ol = rot_t @ (o - np.asarray(prim.centre)[:, None])
            dl = rot_t @ dirs
            t_enter = np.full(dirs.shape[1], -np.inf)
            t_exit = np.full(dirs.shape[1], np.inf)
            for axis, h in enumerate(prim.half_size):
                inv = 1.0 / dl[axis]
                t0, t1 = (-h - ol[axis]) * inv, (h - ol[axis]) * inv
                # fmin/fmax skip the NaN of a ray lying exactly in a slab's plane
                t_enter = np.fmax(t_enter, np.fmin(t0, t1))
                t_exit = np.fmin(t_exit, np.fmax(t0, t1))
            t = np.where(t_enter > _EPS, t_enter, t_exit)
            return np.where((t_exit >= t_enter) & (t > _EPS), t, np.inf)
    raise TypeError(f"unknown primitive {type(prim).__name__}")


def bounding_sphere(prim: Primitive) -> tuple[np.ndarray, float] | None:
    """Centre and radius enclosing a finite primitive; None for an infinite plane."""
    if isinstance(prim, Sphere):
        return np.asarray(prim.centre, np.float64), float(prim.radius)
    if isinstance(prim, Box):
        return np.asarray(prim.centre, np.float64), float(np.linalg.norm(prim.half_size))
    return None


def screen_window(prim: Primitive, cam: Camera) -> tuple[slice, slice] | None:
    """Pixel rows/columns that can see ``prim`` (conservative); None = none of them.

    The projection of a convex body in front of the camera lies inside the projection of
    any enclosing box's corners; a body reaching behind the camera gets the whole frame.
    """
    full = (slice(0, cam.height), slice(0, cam.width))
    bound = bounding_sphere(prim)
    if bound is None:
        return full
    if isinstance(prim, Box):
        corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1) * np.asarray(prim.half_size)[:, None]
        corners = _box_frame(prim) @ corners + bound[0][:, None]
    else:
        corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1) * bound[1] + bound[0][:, None]
    u, v, z = cam.project(corners)
    if (z <= _EPS).any():
        return full
    c0, c1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, cam.width)
    r0, r1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, cam.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


def surface(prim: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit outward normals and texture coordinates, both (3, N), at surface ``points``."""
    if isinstance(prim, Plane):
        n = np.asarray(prim.normal, np.float64)
        n = n / np.linalg.norm(n)
        # in-plane axes so that textures lie flat on the plane
        helper = np.array([0, 0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0, 0])
        u = np.cross(n, helper)
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        tex = np.stack([u @ points, v @ points, np.zeros(points.shape[1])])
        return np.broadcast_to(n[:, None], points.shape), tex
    if isinstance(prim, Sphere):
        rel = points - np.asarray(prim.centre)[:, None]
        return rel / prim.radius, rel
    if isinstance(prim, Box):
        rot = _box_frame(prim)
        local = rot.T @ (points - np.asarray(prim.centre)[:, None])
        h = np.asarray(prim.half_size, np.float64)[:, None]
        axis = np.argmax(np.abs(local) / h, axis=0)
        cols = np.arange(points.shape[1])
        n_local = np.zeros_like(local)
        n_local[axis, cols] = np.sign(local[axis, cols])
        return rot @ n_local, local + h  # texture anchored at a corner
    raise TypeError(f"unknown primitive {type(prim).__name__}")


# --------------------------------------------------------------------------------------
# Procedural textures
# --------------------------------------------------------------------------------------
def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point."""
    h = (
        ix.astype(np.uint64) * np.uint64(0x9E3779B1)
        ^ iy.astype(np.uint64) * np.uint64(0x85EBCA77)
        ^ iz.astype(np.uint64) * np.uint64(0xC2B2AE3D)
        ^ np.uint64(seed * 0x27D4EB2F + 0x165667B1)
    )
    h ^= h >> np.uint64(15)
    h *= np.uint64(0x2C1B3C6D)
    h ^= h >> np.uint64(12)
    return (h & np.uint64(0xFFFFFF)).astype(np.float64) / float(1 << 24)


def value_noise(p: np.ndarray, seed: int = 0, octaves: int = 2) -> np.ndarray:
    """Smooth value noise in [0, 1] at points p (3, N), lattice period 1.

    Points with z = 0 everywhere (textures on planes) take the 2-D path: half the corners.
    """
    dims = 2 if not p[2].any() else 3
    total = np.zeros(p.shape[1])
    amp_sum = 0.0
    for octave in range(octaves):
        q = p[:dims] * (2.0**octave) + 17.0 * octave
        i = np.floor(q)
        f = q - i
        f = f * f * (3 - 2 * f)
        i = i.astype(np.int64)
        iz = i[2] if dims == 3 else np.zeros_like(i[0])
        acc = np.zeros(p.shape[1])
        for dx in (0, 1):
            wx = f[0] if dx else 1 - f[0]
            for dy in (0, 1):
                wxy = wx * (f[1] if dy else 1 - f[1])
                for dz in (0, 1) if dims == 3 else (0,):
                    w = wxy * (f[2] if dz else 1 - f[2]) if dims == 3 else wxy
                    acc += w * _hash01(i[0] + dx, i[1] + dy, iz + dz, seed + octave)
        amp = 0.5**octave
        total += amp * acc
        amp_sum += amp
    return total / amp_sum


def albedo(material: Material, tex: np.ndarray) -> np.ndarray:
    """Linear RGB albedo (3, N) of ``material`` at texture coordinates ``tex`` (3, N)."""
    q = tex / material.scale
    if material.kind == "checker":
        # a small offset keeps faces lying exactly on a cell boundary from flickering
        m = (np.floor(q + 1e-4).astype(np.int64).sum(axis=0) & 1).astype(np.float64)
    elif material.kind == "stripes":
        m = 0.5 + 0.5 * np.sin(2 * np.pi * (q[0] + 0.3 * q[1]))
    elif material.kind == "noise":
        m = value_noise(q * 2.0, material.seed)
    elif material.kind == "plain":
        return np.broadcast_to(np.asarray(material.colour_a)[:, None], tex.shape)
    else:
        raise ValueError(f"unknown texture `{material.kind}`")
    a, b = np.asarray(material.colour_a)[:, None], np.asarray(material.colour_b)[:, None]
    return a * (1 - m) + b * m


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def nearest_hit(prims: Sequence[Primitive], origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest ray parameter over all primitives (inf = none) and the primitive index (-1).

    Rays (3, N) that pass a primitive's bounding sphere at a distance beyond its radius
    skip its exact test.
    """
    o = _column(origin)
    n = dirs.shape[1]
    t_best = np.full(n, np.inf)
    which = np.full(n, -1, np.int64)
    if n >= 64:
        # per-ray terms of |c - o|^2 |d|^2 - ((c - o).d)^2, shared by every primitive
        dd = np.einsum("ij,ij->j", dirs, dirs)
        od = np.einsum("ij,ij->j", np.broadcast_to(o, dirs.shape), dirs)
        oo = np.einsum("ij,ij->j", o, o)
    for k, prim in enumerate(prims):
        bound = bounding_sphere(prim)
        if bound is None or n < 64:
            cand = slice(None)
        else:
            c, radius = bound
            along = c @ dirs - od  # (c - o) . d
            dist2 = c @ c - 2 * (c @ o) + oo  # |c - o|^2
            # the ray's line passes beyond the radius, or the sphere lies behind the origin
            miss = (dist2 * dd - along * along > radius**2 * dd) | (along < -radius * np.sqrt(dd))
            cand = np.flatnonzero(~miss)
            if not len(cand):
                continue
        t = intersect(prim, o if o.shape[1] == 1 else o[:, cand], dirs[:, cand])
        closer = t < t_best[cand]
        if isinstance(cand, slice):
            t_best[closer] = t[closer]
            which[closer] = k
        else:
            t_best[cand[closer]] = t[closer]
            which[cand[closer]] = k
    return t_best, which


def in_shadow(prims: Sequence[Primitive], points: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Whether anything in ``prims`` lies between each point (3, N) and a directional light
    (unit vector towards it). Points are projected once onto the plane across the light,
    where a bounded primitive covers a disc; only points inside a disc get the exact test.
    """
    light = np.asarray(light, np.float64)
    e1 = np.cross(light, [0.0, 0.0, 1.0] if abs(light[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(light, e1)
    a, b, s = e1 @ points, e2 @ points, light @ points
    blocked = np.zeros(points.shape[1], bool)
    for prim in prims:
        bound = bounding_sphere(prim)
        if bound is None:
            cand = np.flatnonzero(~blocked)
        else:
            c, radius = bound
            near = ((a - c @ e1) ** 2 + (b - c @ e2) ** 2 <= radius**2) & (s < c @ light + radius)
            cand = np.flatnonzero(near & ~blocked)
        if len(cand):
            dirs = np.repeat(light[:, None], len(cand), axis=1)
            blocked[cand[np.isfinite(intersect(prim, points[:, cand], dirs))]] = True
    return blocked


def depth_m_to_mm(depth_m: np.ndarray, min_depth_m: float = MIN_DEPTH_M, max_depth_m: float = DEFAULT_MAX_DEPTH_M) -> np.ndarray:
    """Metric z-depth -> file format: uint16 mm, 0 outside [min_depth_m, max_depth_m]."""
    d = np.asarray(depth_m, np.float64)
    ok = np.isfinite(d) & (d >= min_depth_m) & (d <= max_depth_m)
    return np.where(ok, np.clip(np.rint(d * 1000.0), 0, 65535), 0).astype(np.uint16)


def _primary_hits(scene: Scene, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit per pixel for camera rays (3, H, W); each primitive is tested only
    inside its screen window."""
    cam = scene.camera
    t_best = np.full((cam.height, cam.width), np.inf)
    which = np.full((cam.height, cam.width), -1, np.int64)
    for k, prim in enumerate(scene.primitives):
        win = screen_window(prim, cam)
        if win is None:
            continue
        d = dirs[:, win[0], win[1]]
        t = intersect(prim, origin, d.reshape(3, -1)).reshape(d.shape[1:])
        tb, wb = t_best[win], which[win]  # views
        closer = t < tb
        tb[closer] = t[closer]
        wb[closer] = k
    return t_best.reshape(-1), which.reshape(-1)


def render_scene(scene: Scene) -> Rendered:
    """Ray-cast ``scene``: exact z-depth per pixel and a shaded RGB image."""
    cam = scene.camera
    h, w = cam.height, cam.width
    origin, dirs_grid = cam.rays()
    t, which = _primary_hits(scene, origin, dirs_grid)
    dirs = dirs_grid.reshape(3, -1)

    light = np.asarray(scene.light_dir, np.float64)
    light = light / np.linalg.norm(light)
    idx = np.flatnonzero(which >= 0)
    d_hit = dirs[:, idx]
    points = origin[:, None] + t[idx] * d_hit
    # shading needs no more than float32
    normals = np.empty(points.shape, np.float32)
    base = np.empty(points.shape, np.float32)
    for k, prim in enumerate(scene.primitives):
        sel = np.flatnonzero(which[idx] == k)
        if len(sel):
            n, tex = surface(prim, points[:, sel])
            normals[:, sel] = n
            base[:, sel] = albedo(prim.material, tex)
    # light the side facing the camera (planes are two-sided)
    normals *= np.where(np.einsum("ij,ij->j", normals, d_hit.astype(np.float32)) > 0, -1, 1).astype(np.float32)
    lambert = np.maximum(light.astype(np.float32) @ normals, 0)
    if scene.shadows and len(idx):
        lit = np.flatnonzero(lambert > 0)
        casters = [p for p in scene.primitives if getattr(p, "casts_shadow", True)]
        lambert[lit[in_shadow(casters, points[:, lit] + normals[:, lit] * 1e-4, light)]] = 0.0
    light_rgb = np.asarray(scene.light_colour, np.float32)[:, None] * np.float32(1 - scene.ambient)
    surf = base * (np.float32(scene.ambient) + light_rgb * lambert)
    horizon = np.asarray(scene.sky_horizon, np.float32)[:, None]
    if scene.haze_m > 0:
        dist = t[idx] * np.sqrt(np.einsum("ij,ij->j", d_hit, d_hit))
        keep = np.exp(-dist / scene.haze_m).astype(np.float32)
        surf = surf * keep + horizon * (1 - keep)

    colour = np.empty((3, h * w), np.float32)
    colour[:, idx] = surf
    # sky: a vertical gradient by ray elevation
    sky = np.flatnonzero(which < 0)
    if len(sky):
        d_sky = dirs[:, sky]
        elev = np.clip(d_sky[2] / np.sqrt(np.einsum("ij,ij->j", d_sky, d_sky)), 0, 1).astype(np.float32)
        colour[:, sky] = horizon * (1 - elev) + np.asarray(scene.sky_zenith, np.float32)[:, None] * elev

    # linear -> display gamma, then sensor noise and 8-bit quantisation
    img = np.clip(colour.T.reshape(h, w, 3) * np.float32(scene.exposure), 0, 1)
    img = np.power(img, np.float32(1 / 2.2)) * np.float32(255)
    if scene.noise_sigma > 0:
        rng = np.random.default_rng(scene.seed)
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(scene.noise_sigma)
    rgb = np.clip(img + np.float32(0.5), 0, 255).astype(np.uint8)  # round half up
    depth_m = t.reshape(h, w)
    return Rendered(
        rgb=rgb,
        depth_m=depth_m,
        depth_mm=depth_m_to_mm(depth_m, scene.min_depth_m, scene.max_depth_m),
        hit=which.reshape(h, w),
    )


# --------------------------------------------------------------------------------------
# Random scenes
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SynthParams:
    """Ranges the random scenes are drawn from (angles in degrees, lengths in metres)."""

    width: int = DEPTH_HW[1]
    height: int = DEPTH_HW[0]
    focal_px: float = ZED_VGA_FOCAL_PX
    focal_jitter: float = 0.1  # +-10% per scene
    camera_height_m: tuple[float, float] = (0.4, 2.0)
    pitch_deg: tuple[float, float] = (-5.0, 25.0)  # positive looks down
    roll_deg: tuple[float, float] = (-4.0, 4.0)
    indoor_prob: float = 0.5
    boxes: tuple[int, int] = (2, 8)
    spheres: tuple[int, int] = (1, 4)
    object_distance_m: tuple[float, float] = (1.0, 14.0)
    max_depth_m: float = DEFAULT_MAX_DEPTH_M
    min_depth_m: float = MIN_DEPTH_M
    noise_sigma: float = 1.5
    textures: tuple[str, ...] = ("checker", "stripes", "noise", "plain")


def _random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.8)) -> tuple[float, ...]:
    hue = rng.random()
    s = rng.uniform(*sat)
    v = rng.uniform(0.25, 0.9)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    rgb = v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)  # HSV -> RGB
    return tuple(float(c) for c in rgb**2.2)  # to linear


def _random_material(rng: np.random.Generator, kinds: Sequence[str], scale: tuple[float, float]) -> Material:
    return Material(
        kind=str(rng.choice(list(kinds))),
        colour_a=_random_colour(rng),
        colour_b=_random_colour(rng),
        scale=float(rng.uniform(*scale)),
        seed=int(rng.integers(1 << 30)),
    )


def random_scene(rng: np.random.Generator, params: SynthParams = SynthParams()) -> Scene:
    """A room or an outdoor yard with boxes and spheres, seen from a random camera."""
    cam_h = rng.uniform(*params.camera_height_m)
    cam = Camera.looking(
        height_m=cam_h,
        pitch_deg=rng.uniform(*params.pitch_deg),
        yaw_deg=rng.uniform(-180, 180),
        roll_deg=rng.uniform(*params.roll_deg),
        width=params.width,
        height=params.height,
        focal_px=params.focal_px * (1 + rng.uniform(-1, 1) * params.focal_jitter),
    )
    fwd = np.asarray(cam.rotation)[:, 2]
    yaw = math.atan2(fwd[0], fwd[1])
    half_fov = math.atan2(params.width / 2, cam.fx)
    prims: list[Primitive] = [Plane((0, 0, 1), 0.0, _random_material(rng, params.textures, (0.3, 1.5)))]
    indoor = rng.random() < params.indoor_prob

    def ahead(dist: float, bearing: float) -> np.ndarray:
        a = yaw + bearing
        return np.array([math.sin(a) * dist, math.cos(a) * dist])

    if indoor:
        ceiling = max(cam_h + 0.4, rng.uniform(2.4, 3.6))
        prims.append(Plane((0, 0, 1), ceiling, _random_material(rng, ("plain", "noise"), (0.5, 2.0)), False))
        # four walls around the camera in the room's own orientation
        room_yaw = yaw + rng.uniform(-0.5, 0.5)
        ex, ey = np.array([math.cos(room_yaw), -math.sin(room_yaw)]), np.array([math.sin(room_yaw), math.cos(room_yaw)])
        extents = (rng.uniform(1.5, 6), rng.uniform(1.5, 6), rng.uniform(4, 16), rng.uniform(0.8, 4))
        for axis, sign, dist in ((ex, -1, extents[0]), (ex, 1, extents[1]), (ey, 1, extents[2]), (ey, -1, extents[3])):
            n = (float(axis[0]), float(axis[1]), 0.0)
            prims.append(Plane(n, sign * dist, _random_material(rng, params.textures, (0.3, 1.5)), False))

        def inside(p: np.ndarray) -> bool:
            return abs(p @ ex) < min(extents[:2]) - 0.3 and -extents[3] + 0.3 < p @ ey < extents[2] - 0.3

    else:
        # buildings: large boxes far away, some beyond the depth range (stay unknown)
        for _ in range(int(rng.integers(0, 5))):
            c = ahead(rng.uniform(10, 45), rng.uniform(-1.3, 1.3) * half_fov)
            hs = (rng.uniform(2, 8), rng.uniform(2, 8), rng.uniform(2, 12))
            prims.append(Box((c[0], c[1], hs[2]), hs, rng.uniform(0, 90), _random_material(rng, params.textures, (0.5, 3))))

        def inside(p: np.ndarray) -> bool:
            return True


    def place(radius: float) -> np.ndarray | None:
        for _ in range(20):
            d = rng.uniform(*params.object_distance_m)
            p = ahead(d, rng.uniform(-1.2, 1.2) * half_fov)
            if np.hypot(*p) > radius + 0.6 and inside(p):
                return p
        return None

    for _ in range(int(rng.integers(params.boxes[0], params.boxes[1] + 1))):
        hs = rng.uniform(0.1, 1.0, 3)
        p = place(float(np.hypot(hs[0], hs[1])))
        if p is not None:
            z = hs[2] if rng.random() < 0.8 else hs[2] + rng.uniform(0.2, 1.5)  # resting or floating
            prims.append(Box((p[0], p[1], z), tuple(hs), rng.uniform(0, 90), _random_material(rng, params.textures, (0.1, 0.6))))
    for _ in range(int(rng.integers(params.spheres[0], params.spheres[1] + 1))):
        r = rng.uniform(0.1, 0.8)
        p = place(r)
        if p is not None:
            z = r if rng.random() < 0.7 else r + rng.uniform(0.2, 1.5)
            prims.append(Sphere((p[0], p[1], z), r, _random_material(rng, params.textures, (0.1, 0.5))))

    elevation, azimuth = math.radians(rng.uniform(20, 80)), rng.uniform(0, 2 * math.pi)
    tint = 1 + rng.uniform(-0.1, 0.1, 3)
    return Scene(
        camera=cam,
        primitives=tuple(prims),
        light_dir=(math.cos(elevation) * math.sin(azimuth), math.cos(elevation) * math.cos(azimuth), math.sin(elevation)),
        light_colour=tuple(float(c) for c in tint),
        ambient=float(rng.uniform(0.15, 0.45)),
        sky_horizon=_random_colour(rng, (0.05, 0.25)),
        sky_zenith=_random_colour(rng, (0.3, 0.6)),
        haze_m=float(rng.uniform(30, 120)) if not indoor else 0.0,
        exposure=float(rng.uniform(0.8, 1.3)),
        noise_sigma=params.noise_sigma,
        max_depth_m=params.max_depth_m,
        min_depth_m=params.min_depth_m,
        seed=int(rng.integers(1 << 30)),
    )


# --------------------------------------------------------------------------------------
# Dataset writer
# --------------------------------------------------------------------------------------
def scene_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index), 0x5D])


def synth_depth(
    out: Path,
    count: int,
    seed: int = 0,
    val_fraction: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
    params: SynthParams | None = None,
) -> dict:
    """Write ``count`` synthetic pairs under ``out`` in the official depth layout.

    The last ``round(count * val_fraction)`` scenes (at least one when ``val_fraction > 0``
    and ``count >= 2``) go to ``val/``, the rest to ``train/``; names are ``00000.png``...
    Returns ``{"root", "train", "val", "seconds", ...}`` and writes ``ROOT/synth.json``.
    """
    params = params or SynthParams()
    out = Path(out)
    if count < 1:
        raise MaikitError(f"`count` must be at least 1, got {count}")
    if not 0 <= val_fraction < 1:
        raise MaikitError(f"`val_fraction` must be in [0, 1), got {val_fraction}")
    n_val = int(round(count * val_fraction))
    if val_fraction > 0 and count >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, count - 1)
    names = [f"{i:05d}.png" for i in range(count)]
    split_of = ["train"] * (count - n_val) + ["val"] * n_val
    _refuse_stale_files(out, names, split_of)

    t0 = time.perf_counter()
    valid_fracs, depth_min, depth_max = [], math.inf, 0.0
    for i, (name, split) in enumerate(zip(names, split_of)):
        r = render_scene(random_scene(scene_rng(seed, i), params))
        write_png(out / split / DEPTH.input_dir / name, r.rgb)
        write_depth_mm(out / split / DEPTH.target_dir / name, r.depth_mm)
        valid = r.depth_mm > 0
        valid_fracs.append(float(valid.mean()))
        if valid.any():
            depth_min = min(depth_min, float(r.depth_mm[valid].min()) / 1000)
            depth_max = max(depth_max, float(r.depth_mm[valid].max()) / 1000)
        if progress is not None:
            progress(i + 1, count)
    seconds = time.perf_counter() - t0

    meta = {
        "generator": "maikit.data.synth_depth",
        "version": SYNTH_VERSION,
        "seed": int(seed),
        "count": int(count),
        "val_fraction": float(val_fraction),
        "params": asdict(params),
        "camera_model": "pinhole, z-depth along the optical axis; ZED-like VGA focal "
        f"{ZED_VGA_FOCAL_PX:.1f} px (90° H FOV at 2K, 4:3 crop, scaled to 640x480)",
        "depth_format": "uint16 PNG, millimetres, 0 = unknown (beyond max_depth_m, nearer than min_depth_m, sky)",
    }
    write_json(out / "synth.json", meta)
    return {
        "root": str(out),
        "train": count - n_val,
        "val": n_val,
        "seconds": round(seconds, 3),
        "seed": int(seed),
        "valid_fraction_mean": round(float(np.mean(valid_fracs)), 4),
        "depth_range_m": [round(depth_min, 3), round(depth_max, 3)] if depth_max > 0 else None,
        "meta": str(out / "synth.json"),
    }


def _refuse_stale_files(out: Path, names: list[str], split_of: list[str]) -> None:
    """Stop before rendering if the folder holds PNGs this run would not overwrite: mixing
    scenes of two runs would silently change the dataset."""
    planned = {(s, n) for s, n in zip(split_of, names)}
    for split in ("train", "val"):
        for sub in (DEPTH.input_dir, DEPTH.target_dir):
            folder = out / split / sub
            if not folder.is_dir():
                continue
            stale = [p for n, p in list_pngs(folder).items() if (split, n) not in planned]
            if stale:
                raise MaikitError(
                    f"folder already holds {len(stale)} PNG file(s) this run would not replace "
                    f"(e.g. {stale[0].name}); use an empty folder or delete them",
                    folder,
                )


__all__ = [
    "Box", "Camera", "Material", "Plane", "Rendered", "Scene", "Sphere", "SynthParams",
    "ZED_VGA_FOCAL_PX", "depth_m_to_mm", "intersect", "random_scene", "render_scene", "synth_depth",
]
