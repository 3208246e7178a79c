"""Deterministic synthetic scenes rendered by ray casting, with exact ground-truth depth.

One module per job: :mod:`.scene` (what a scene is), :mod:`.layout` (drawing a random room and
what stands in it), :mod:`.materials` (textures), :mod:`.ray_casting` (rendering) and
:mod:`.camera_paths` (frames from a scene's own pose or along a path).

Only numpy is used, so the renderer runs anywhere the package does (tests, CI, the training
script, the demo-bag writer).

Conventions
-----------
* World frame: right-handed, ``Z`` up, ground plane at ``z = 0`` (the ROS ``base_link`` style).
* Camera optical frame: ``x`` right, ``y`` down, ``z`` forward (the ROS optical convention).
  Pixel ``(u, v)`` (column, row, pixel centres at integer coordinates) looks along the camera-frame
  ray ``((u - cx) / fx, (v - cy) / fy, 1)``.
* Depth is the **z-depth along the optical axis** in metres (what a depth camera reports and what
  ``depth_image_proc`` expects), not the length of the ray.
* Pixels that see the sky have depth ``+inf``: there is no surface there. Everything else lies
  within roughly 0.4-12 m, because every scene is enclosed by walls
  (see :func:`~.layout.generate_scene`).

A scene is a room (four walls, a floor, with or without a ceiling; without one the sky shows above
the walls) filled with boxes, spheres and cylinders. Every surface has a procedural texture
(checkers, stripes, bricks, value noise, plain) with low-frequency colour variation, and is shaded
with a Lambertian sun plus ambient light, cast shadows from the objects and distance fog, so the
usual monocular cues (perspective of textures, contact points on the floor, shading, shadows,
haze) are present.
"""

from edge_perception.training.scenes.camera_paths import (
    camera_trajectory,
    render_scene,
    render_trajectory,
)
from edge_perception.training.scenes.layout import (
    generate_scene,
    INDOOR_ROBOT,
    REAL_ROOM,
    SCENE_STYLES,
    SceneRandomisation,
    TEXTURE_FAMILIES,
)
from edge_perception.training.scenes.ray_casting import render
from edge_perception.training.scenes.scene import (
    Box,
    CameraPose,
    Cylinder,
    Lighting,
    Material,
    Scene,
    SceneRender,
    SKY_DEPTH,
    Sphere,
)

__all__ = [
    'Box', 'camera_trajectory', 'CameraPose', 'Cylinder', 'generate_scene', 'INDOOR_ROBOT',
    'Lighting', 'Material', 'REAL_ROOM', 'render', 'render_scene', 'render_trajectory', 'Scene',
    'SCENE_STYLES', 'SceneRandomisation', 'SceneRender', 'SKY_DEPTH', 'Sphere',
    'TEXTURE_FAMILIES',
]
