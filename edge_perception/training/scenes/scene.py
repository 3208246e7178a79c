"""What a scene is: camera pose, materials, shapes, lighting, the room, and a rendered frame.

Conventions (world frame, camera frame, depth) are in the package's documentation
(:mod:`edge_perception.training.scenes`).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from edge_perception.core.depth_geometry import PinholeIntrinsics

#: Depth given to pixels that see no surface (the sky).
SKY_DEPTH = np.inf


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is in the world and where it looks.

    :param position: camera centre ``(x, y, z)`` in the world frame, metres.
    :param yaw: heading about world ``Z``, radians (0 looks along world ``+X``).
    :param pitch: downward tilt of the optical axis, radians (positive looks down).
    :param roll: rotation about the optical axis, radians (positive turns the image clockwise).
    """

    position: tuple[float, float, float]
    yaw: float
    pitch: float
    roll: float = 0.0

    def rotation(self) -> np.ndarray:
        """Return the camera-to-world rotation; its columns are the optical x, y, z axes."""
        forward = np.array(
            [
                math.cos(self.yaw) * math.cos(self.pitch),
                math.sin(self.yaw) * math.cos(self.pitch),
                -math.sin(self.pitch),
            ]
        )
        # World Y points left, so the camera's right is the heading rotated by -90 degrees.
        right = np.array([math.sin(self.yaw), -math.cos(self.yaw), 0.0])
        down = np.cross(forward, right)
        cos_roll, sin_roll = math.cos(self.roll), math.sin(self.roll)
        rolled_right = cos_roll * right + sin_roll * down
        rolled_down = -sin_roll * right + cos_roll * down
        return np.stack([rolled_right, rolled_down, forward], axis=1)


@dataclass(frozen=True)
class Material:
    """A procedural surface texture.

    :param pattern: one of ``checker``, ``stripes``, ``bricks``, ``noise``, ``plain``.
    :param colour_a: main albedo, RGB in [0, 1].
    :param colour_b: second albedo of the pattern, RGB in [0, 1].
    :param cell_size: size of one pattern cell on the surface, metres.
    :param stripe_angle: direction of stripes in texture space, radians.
    :param variation: amplitude of the low-frequency brightness variation, 0-1.
    :param noise_seed: seed of the value-noise lattice used by this material.
    """

    pattern: str
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    cell_size: float
    stripe_angle: float
    variation: float
    noise_seed: int


@dataclass(frozen=True)
class Box:
    """A box standing on the floor, turned about the vertical axis.

    :param centre_xy: centre of the footprint in the world, metres.
    :param size: full extents ``(length, width, height)``, metres.
    :param yaw: rotation about world ``Z``, radians.
    :param base_height: height of the bottom face above the floor, metres.
    :param material: surface texture.
    """

    centre_xy: tuple[float, float]
    size: tuple[float, float, float]
    yaw: float
    base_height: float
    material: Material

    def footprint_radius(self) -> float:
        """Radius of a circle around the centre that holds the whole footprint, metres."""
        return 0.5 * math.hypot(self.size[0], self.size[1])


@dataclass(frozen=True)
class Sphere:
    """A sphere.

    :param centre: centre in the world, metres.
    :param radius: radius, metres.
    :param material: surface texture.
    """

    centre: tuple[float, float, float]
    radius: float
    material: Material

    def footprint_radius(self) -> float:
        """Radius of the footprint around the centre, metres."""
        return self.radius


@dataclass(frozen=True)
class Cylinder:
    """An upright cylinder with a flat top.

    :param centre_xy: axis position in the world, metres.
    :param radius: radius, metres.
    :param height: height of the top above the floor, metres.
    :param material: surface texture.
    """

    centre_xy: tuple[float, float]
    radius: float
    height: float
    material: Material

    def footprint_radius(self) -> float:
        """Radius of the footprint around the axis, metres."""
        return self.radius


@dataclass(frozen=True)
class Lighting:
    """Sun, ambient light, fog and sky.

    :param sun_direction: unit vector from surfaces towards the sun, world frame.
    :param sun_intensity: scale of the direct (Lambertian) term.
    :param ambient: scale of the ambient term.
    :param light_colour: RGB tint of all light.
    :param fog_distance: distance at which fog hides 63 % of a surface, metres.
    :param fog_colour: RGB colour surfaces fade to.
    :param sky_horizon: sky RGB at the horizon.
    :param sky_zenith: sky RGB straight up.
    """

    sun_direction: tuple[float, float, float]
    sun_intensity: float
    ambient: float
    light_colour: tuple[float, float, float]
    fog_distance: float
    fog_colour: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    sky_zenith: tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    """Everything needed to render a scene from any pose.

    :param room_min_xy: lower corner of the room's floor, metres.
    :param room_max_xy: upper corner of the room's floor, metres.
    :param wall_height: height of the walls, metres.
    :param has_ceiling: whether a ceiling closes the room at ``wall_height``.
    :param floor: floor texture.
    :param walls: textures of the walls at min x, max x, min y, max y.
    :param ceiling: ceiling texture (unused without a ceiling).
    :param objects: boxes, spheres and cylinders in the room.
    :param lighting: light, fog and sky.
    :param camera_pose: the pose :func:`render_scene` renders from.
    :param clear_radius: no object comes closer than this to the camera's start, metres.
    """

    room_min_xy: tuple[float, float]
    room_max_xy: tuple[float, float]
    wall_height: float
    has_ceiling: bool
    floor: Material
    walls: tuple[Material, Material, Material, Material]
    ceiling: Material
    objects: tuple[Box | Sphere | Cylinder, ...]
    lighting: Lighting
    camera_pose: CameraPose
    clear_radius: float


@dataclass
class SceneRender:
    """One rendered frame.

    :param rgb: colour image, H×W×3 uint8, RGB order.
    :param depth: z-depth, H×W float32 metres; ``+inf`` where the sky is seen.
    :param intrinsics: the camera the frame was rendered with.
    :param pose: the camera pose the frame was rendered from.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: PinholeIntrinsics
    pose: CameraPose
