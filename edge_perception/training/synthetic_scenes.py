"""Deterministic synthetic scenes rendered by ray casting, with exact ground-truth depth.

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
  within roughly 0.4-12 m, because every scene is enclosed by walls (see :func:`generate_scene`).

A scene is a room (four walls, a floor, with or without a ceiling; without one the sky shows above
the walls) filled with boxes, spheres and cylinders. Every surface has a procedural texture
(checkers, stripes, bricks, value noise, plain) with low-frequency colour variation, and is shaded
with a Lambertian sun plus ambient light, cast shadows from the objects and distance fog, so the
usual monocular cues (perspective of textures, contact points on the floor, shading, shadows,
haze) are present.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import math

import numpy as np

from edge_perception.core.depth_geometry import PinholeIntrinsics

#: Depth given to pixels that see no surface (the sky).
SKY_DEPTH = np.inf

# Rays that travel less than this are treated as self-intersections (shadow rays start on a
# surface) and ignored.
_HIT_EPSILON = 1e-4

# Side of the square lattice behind the value noise; textures repeat after this many cells, far
# more than is visible in one scene.
_NOISE_LATTICE_SIZE = 64


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


#: Texture and lighting families. ``A`` is what the shipped model was trained on (synthetic
#: patterns, optionally with natural ones); ``B`` is never drawn unless asked for, so a model
#: trained on ``A`` can be judged on surfaces and light it has not seen.
TEXTURE_FAMILIES = ('A', 'B')

# Patterns of family A; the list (and its order) fixes the scenes the shipped model learned from.
_SYNTHETIC_PATTERNS = ('checker', 'stripes', 'bricks', 'noise', 'noise', 'plain')
# Patterns with the statistics of real surfaces, drawn in family A with ``natural_texture_share``.
_NATURAL_PATTERNS = ('pink_noise', 'wood', 'fabric')
# Family B: only these, so none of its surfaces look like a training surface.
_HELD_OUT_PATTERNS = ('marble', 'granite', 'granite')


@dataclass(frozen=True)
class SceneRandomisation:
    """Ranges scenes and camera poses are drawn from.

    The camera ranges describe one rig family (a forward-looking camera about a metre above the
    floor, as on a mobile robot); the scene content itself is varied freely. Monocular depth is
    only defined up to the priors the model learns, so a camera far outside these ranges gets
    depth scaled accordingly.

    The defaults reproduce the scenes the shipped model was trained on bit for bit: options left
    at their defaults draw no random numbers. :data:`INDOOR_ROBOT` turns the newer ones on.

    :param camera_height: range of the camera's height above the floor, metres.
    :param camera_pitch_deg: range of the downward tilt, degrees.
    :param camera_roll_deg: largest absolute roll, degrees.
    :param room_size: range of each side of the room, metres.
    :param object_count: inclusive range of the number of objects.
    :param clear_radius: free radius around the camera, metres.
    :param furniture_count: inclusive range of the number of furniture pieces (tables, chairs,
        shelves, stacked boxes), each made of several boxes.
    :param clutter_count: inclusive range of the number of small objects (5-35 cm) on the floor.
    :param close_view_share: probability that a furniture piece stands right in front of the
        camera, 0.3-2 m away, so close-range views are common.
    :param natural_texture_share: probability that a family-A surface gets a natural texture
        (1/f noise, wood, fabric) instead of a synthetic pattern.
    :param texture_family: ``A`` (training) or ``B`` (held out: other textures and lighting).
    """

    camera_height: tuple[float, float] = (0.9, 1.3)
    camera_pitch_deg: tuple[float, float] = (0.0, 14.0)
    camera_roll_deg: float = 3.0
    room_size: tuple[float, float] = (5.0, 13.0)
    object_count: tuple[int, int] = (3, 12)
    clear_radius: float = 0.7
    furniture_count: tuple[int, int] = (0, 0)
    clutter_count: tuple[int, int] = (0, 0)
    close_view_share: float = 0.0
    natural_texture_share: float = 0.0
    texture_family: str = 'A'

    def __post_init__(self):
        if self.texture_family not in TEXTURE_FAMILIES:
            raise ValueError(
                f'texture_family {self.texture_family!r} is not one of {TEXTURE_FAMILIES}'
            )


#: Indoor scenes as robots see them: furniture and floor clutter, close-range views, cameras from
#: a low vacuum robot (0.2 m) to a tall mobile base (1.5 m) pitched up to 30° down, and natural
#: textures beside the synthetic ones.
INDOOR_ROBOT = SceneRandomisation(
    camera_height=(0.2, 1.5),
    camera_pitch_deg=(0.0, 30.0),
    object_count=(1, 6),
    clear_radius=0.3,
    furniture_count=(2, 6),
    clutter_count=(3, 15),
    close_view_share=0.35,
    natural_texture_share=0.5,
)

#: Named randomisations for command lines.
SCENE_STYLES = {'classic': SceneRandomisation(), 'indoor-robot': INDOOR_ROBOT}


# ----------------------------------------------------------------------------- scene generation


def _random_colour(rng: np.random.Generator, saturation_max: float = 0.8) -> np.ndarray:
    """Draw an RGB colour in [0, 1] from a random hue, saturation and value."""
    hue = rng.uniform(0.0, 1.0)
    saturation = rng.uniform(0.0, saturation_max)
    value = rng.uniform(0.25, 0.95)
    channel_offsets = np.array([0.0, 2.0 / 3.0, 1.0 / 3.0])
    hue_ramp = np.abs(((hue + channel_offsets) % 1.0) * 6.0 - 3.0) - 1.0
    return value * (1.0 - saturation + saturation * np.clip(hue_ramp, 0.0, 1.0))


def _random_material(
    rng: np.random.Generator,
    cell_size_range: tuple[float, float],
    ranges: SceneRandomisation | None = None,
) -> Material:
    """Draw a material: a pattern of the family, two related colours and a cell size."""
    ranges = ranges or SceneRandomisation()
    if ranges.texture_family == 'B':
        pattern = str(rng.choice(_HELD_OUT_PATTERNS))
    elif ranges.natural_texture_share > 0.0 and rng.uniform() < ranges.natural_texture_share:
        pattern = str(rng.choice(_NATURAL_PATTERNS))
    else:
        pattern = str(rng.choice(_SYNTHETIC_PATTERNS))
    colour_a = _random_colour(rng)
    if rng.uniform() < 0.5:
        # A darker or lighter shade of the same colour, the common case in real materials.
        colour_b = np.clip(colour_a * rng.uniform(0.4, 1.6), 0.0, 1.0)
    else:
        colour_b = _random_colour(rng)
    return Material(
        pattern=pattern,
        colour_a=tuple(float(c) for c in colour_a),
        colour_b=tuple(float(c) for c in colour_b),
        cell_size=float(math.exp(rng.uniform(*np.log(cell_size_range)))),
        stripe_angle=float(rng.uniform(0.0, math.pi)),
        variation=float(rng.uniform(0.05, 0.35)),
        noise_seed=int(rng.integers(0, 2**31 - 1)),
    )


def _colour_temperature_tint(kelvin: float) -> np.ndarray:
    """RGB tint of a black body at ``kelvin``, normalised to mean 1 (warm lamps to overcast)."""
    # Planck's law sampled at the centres of the R, G and B bands.
    wavelengths = np.array([610e-9, 550e-9, 465e-9])
    second_radiation_constant = 1.4388e-2
    radiance = wavelengths**-5 / np.expm1(second_radiation_constant / (wavelengths * kelvin))
    return radiance / radiance.mean()


def _random_sun_direction(
    rng: np.random.Generator, elevation_deg: tuple[float, float]
) -> tuple[float, float, float]:
    """Draw a unit vector towards the sun: elevation in ``elevation_deg``, any azimuth."""
    elevation = rng.uniform(math.radians(elevation_deg[0]), math.radians(elevation_deg[1]))
    azimuth = rng.uniform(-math.pi, math.pi)
    return (
        math.cos(elevation) * math.cos(azimuth),
        math.cos(elevation) * math.sin(azimuth),
        math.sin(elevation),
    )


def _held_out_lighting(rng: np.random.Generator, indoor: bool) -> Lighting:
    """Family-B light: low sun or lamp colours from 2700 K to 7500 K, darker ambient, dusk sky."""
    sun_direction = _random_sun_direction(rng, elevation_deg=(10.0, 40.0))
    light_colour = np.clip(_colour_temperature_tint(rng.uniform(2700.0, 7500.0)), 0.5, 1.6)
    sky_horizon = np.clip(np.array([0.95, 0.7, 0.5]) * rng.uniform(0.7, 1.1), 0.0, 1.0)
    sky_zenith = np.clip(np.array([0.35, 0.35, 0.6]) * rng.uniform(0.6, 1.1), 0.0, 1.0)
    return Lighting(
        sun_direction=sun_direction,
        sun_intensity=float(rng.uniform(0.5, 0.8) if indoor else rng.uniform(0.7, 1.0)),
        ambient=float(rng.uniform(0.15, 0.3)),
        light_colour=tuple(float(c) for c in light_colour),
        fog_distance=float(rng.uniform(20.0, 80.0)),
        fog_colour=tuple(float(c) for c in sky_horizon * 0.8),
        sky_horizon=tuple(float(c) for c in sky_horizon),
        sky_zenith=tuple(float(c) for c in sky_zenith),
    )


def _random_lighting(rng: np.random.Generator, indoor: bool) -> Lighting:
    """Draw sun, ambient, fog and sky; indoor rooms get softer, more ambient light."""
    sun_direction = _random_sun_direction(rng, elevation_deg=(25.0, 75.0))
    light_colour = np.clip(1.0 + rng.normal(0.0, 0.06, 3), 0.8, 1.2)
    sky_zenith = np.array([0.25, 0.45, 0.85]) * rng.uniform(0.7, 1.15)
    sky_horizon = np.clip(
        np.array([0.75, 0.82, 0.92]) * rng.uniform(0.8, 1.1) + rng.normal(0, 0.03, 3), 0, 1
    )
    fog_colour = np.clip(sky_horizon * rng.uniform(0.6, 1.0), 0.0, 1.0)
    return Lighting(
        sun_direction=sun_direction,
        sun_intensity=float(rng.uniform(0.35, 0.6) if indoor else rng.uniform(0.55, 0.9)),
        ambient=float(rng.uniform(0.35, 0.55) if indoor else rng.uniform(0.25, 0.4)),
        light_colour=tuple(float(c) for c in light_colour),
        fog_distance=float(rng.uniform(12.0, 45.0)),
        fog_colour=tuple(float(c) for c in fog_colour),
        sky_horizon=tuple(float(c) for c in sky_horizon),
        sky_zenith=tuple(float(c) for c in np.clip(sky_zenith, 0.0, 1.0)),
    )


def _random_object(
    rng: np.random.Generator,
    centre_xy: np.ndarray,
    wall_height: float,
    ranges: SceneRandomisation | None = None,
) -> Box | Sphere | Cylinder:
    """Draw one object standing on the floor at ``centre_xy``."""
    material = _random_material(rng, (0.05, 0.6), ranges)
    kind = rng.choice(['box', 'box', 'sphere', 'cylinder'])
    if kind == 'box':
        size = (
            float(rng.uniform(0.2, 1.3)),
            float(rng.uniform(0.2, 1.3)),
            float(min(rng.uniform(0.2, 2.0), wall_height)),
        )
        # Now and then a box hovers like a table top or a shelf, so not every object touches
        # the floor.
        base_height = float(rng.uniform(0.3, 1.0)) if rng.uniform() < 0.12 else 0.0
        return Box(
            centre_xy=(float(centre_xy[0]), float(centre_xy[1])),
            size=size,
            yaw=float(rng.uniform(0.0, math.pi)),
            base_height=base_height,
            material=material,
        )
    if kind == 'sphere':
        radius = float(rng.uniform(0.12, 0.6))
        lift = float(rng.uniform(0.2, 1.2)) if rng.uniform() < 0.15 else 0.0
        return Sphere(
            centre=(float(centre_xy[0]), float(centre_xy[1]), radius + lift),
            radius=radius,
            material=material,
        )
    reaches_ceiling = rng.uniform() < 0.2
    return Cylinder(
        centre_xy=(float(centre_xy[0]), float(centre_xy[1])),
        radius=float(rng.uniform(0.08, 0.5)),
        height=float(wall_height if reaches_ceiling else min(rng.uniform(0.3, 2.4), wall_height)),
        material=material,
    )


def _part(
    centre_xy: np.ndarray,
    yaw: float,
    offset: tuple[float, float],
    size: tuple[float, float, float],
    base_height: float,
    material: Material,
) -> Box:
    """One box of a furniture piece, ``offset`` given in the piece's own frame."""
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    x = centre_xy[0] + cos_yaw * offset[0] - sin_yaw * offset[1]
    y = centre_xy[1] + sin_yaw * offset[0] + cos_yaw * offset[1]
    return Box(
        centre_xy=(float(x), float(y)),
        size=tuple(float(value) for value in size),  # type: ignore[arg-type]
        yaw=float(yaw),
        base_height=float(base_height),
        material=material,
    )


def _legs(
    centre_xy: np.ndarray,
    yaw: float,
    length: float,
    width: float,
    height: float,
    thickness: float,
    material: Material,
) -> list[Box]:
    """Four square legs under the corners of a ``length`` × ``width`` top."""
    reach_x = length / 2.0 - thickness
    reach_y = width / 2.0 - thickness
    return [
        _part(centre_xy, yaw, (sx * reach_x, sy * reach_y), (thickness, thickness, height), 0.0,
              material)
        for sx in (-1.0, 1.0)
        for sy in (-1.0, 1.0)
    ]


def _random_furniture(
    rng: np.random.Generator,
    centre_xy: np.ndarray,
    wall_height: float,
    ranges: SceneRandomisation,
) -> tuple[list[Box], float]:
    """Draw a table, chair, shelf or stack of boxes at ``centre_xy``, built from boxes.

    :returns: the parts and the radius of a circle around ``centre_xy`` that holds them.
    """
    material = _random_material(rng, (0.05, 0.6), ranges)
    kind = str(rng.choice(['table', 'chair', 'shelf', 'stack']))
    yaw = float(rng.uniform(0.0, 2.0 * math.pi))
    if kind == 'table':
        length, width = rng.uniform(0.6, 1.8), rng.uniform(0.45, 1.0)
        height, top, leg = rng.uniform(0.4, 0.8), rng.uniform(0.025, 0.06), rng.uniform(0.04, 0.08)
        parts = _legs(centre_xy, yaw, length, width, height - top, leg, material)
        parts.append(_part(centre_xy, yaw, (0.0, 0.0), (length, width, top), height - top,
                           material))
        return parts, 0.5 * math.hypot(length, width)
    if kind == 'chair':
        side, seat_height = rng.uniform(0.38, 0.5), rng.uniform(0.4, 0.48)
        seat, leg, back = 0.04, rng.uniform(0.03, 0.05), rng.uniform(0.35, 0.5)
        parts = _legs(centre_xy, yaw, side, side, seat_height - seat, leg, material)
        parts.append(_part(centre_xy, yaw, (0.0, 0.0), (side, side, seat), seat_height - seat,
                           material))
        parts.append(_part(centre_xy, yaw, (-side / 2.0 + 0.015, 0.0), (0.03, side, back),
                           seat_height, material))
        return parts, 0.5 * math.hypot(side, side)
    if kind == 'shelf':
        width, depth = rng.uniform(0.6, 1.6), rng.uniform(0.25, 0.45)
        height, board = min(rng.uniform(0.8, 2.1), wall_height), 0.025
        parts = [
            _part(centre_xy, yaw, (0.0, sy * (width - board) / 2.0), (depth, board, height), 0.0,
                  material)
            for sy in (-1.0, 1.0)
        ]
        parts.append(_part(centre_xy, yaw, (-(depth - board) / 2.0, 0.0),
                           (board, width, height), 0.0, material))
        board_count = int(rng.integers(3, 7))
        for level in np.linspace(0.0, height - board, board_count):
            parts.append(_part(centre_xy, yaw, (0.0, 0.0), (depth, width - 2 * board, board),
                               level, material))
        return parts, 0.5 * math.hypot(width, depth)
    parts = []
    base_height, radius = 0.0, 0.0
    for _ in range(int(rng.integers(2, 5))):
        size = rng.uniform(0.2, 0.6, 3) * np.array([1.0, 1.0, 0.8])
        offset = rng.uniform(-0.06, 0.06, 2)
        box_material = material if rng.uniform() < 0.5 else _random_material(rng, (0.05, 0.6),
                                                                             ranges)
        parts.append(Box(
            centre_xy=(float(centre_xy[0] + offset[0]), float(centre_xy[1] + offset[1])),
            size=(float(size[0]), float(size[1]), float(size[2])),
            yaw=float(yaw + rng.uniform(-0.3, 0.3)),
            base_height=float(base_height),
            material=box_material,
        ))
        base_height += float(size[2])
        radius = max(radius, float(np.linalg.norm(offset)) + 0.5 * math.hypot(size[0], size[1]))
    return parts, radius


def _random_clutter(
    rng: np.random.Generator, centre_xy: np.ndarray, ranges: SceneRandomisation
) -> Box | Sphere | Cylinder:
    """Draw a small object (5-35 cm) lying on the floor: a book, a ball, a can, a shoe box."""
    material = _random_material(rng, (0.02, 0.2), ranges)
    kind = str(rng.choice(['box', 'box', 'sphere', 'cylinder']))
    centre = (float(centre_xy[0]), float(centre_xy[1]))
    if kind == 'box':
        size = rng.uniform(0.05, 0.35, 3) * np.array([1.0, 1.0, 0.6])
        return Box(centre_xy=centre, size=(float(size[0]), float(size[1]), float(size[2])),
                   yaw=float(rng.uniform(0.0, math.pi)), base_height=0.0, material=material)
    if kind == 'sphere':
        radius = float(rng.uniform(0.03, 0.15))
        return Sphere(centre=(*centre, radius), radius=radius, material=material)
    return Cylinder(centre_xy=centre, radius=float(rng.uniform(0.02, 0.12)),
                    height=float(rng.uniform(0.05, 0.4)), material=material)


def _place_in_view(
    rng: np.random.Generator,
    camera_xy: np.ndarray,
    camera_yaw: float,
    distance_range: tuple[float, float],
) -> np.ndarray:
    """Draw a floor point inside the camera's horizontal view, ``distance_range`` metres away."""
    bearing = camera_yaw + rng.uniform(-0.5, 0.5)
    distance = rng.uniform(*distance_range)
    return camera_xy + distance * np.array([math.cos(bearing), math.sin(bearing)])


def _add_furniture_and_clutter(
    rng: np.random.Generator,
    ranges: SceneRandomisation,
    objects: list[Box | Sphere | Cylinder],
    camera_pose: CameraPose,
    room: tuple[np.ndarray, np.ndarray],
    wall_height: float,
) -> None:
    """Append furniture pieces and floor clutter to ``objects``, clear of the camera and walls.

    Pieces may overlap each other (a chair pushed under a table); only the camera's circle and
    the walls are kept free.
    """
    room_min, room_max = room
    camera_xy = np.asarray(camera_pose.position[:2])

    def fits(centre_xy: np.ndarray, radius: float) -> bool:
        inside_room = np.all(centre_xy - radius > room_min) and np.all(
            centre_xy + radius < room_max
        )
        return bool(inside_room) and bool(
            np.linalg.norm(centre_xy - camera_xy) > ranges.clear_radius + radius
        )

    furniture_count = int(rng.integers(ranges.furniture_count[0], ranges.furniture_count[1] + 1))
    close_view = furniture_count > 0 and rng.uniform() < ranges.close_view_share
    placed = 0
    for attempt in range(20 * furniture_count):
        if placed == furniture_count:
            break
        # The first piece of a close view stands right in front of the camera: its near side
        # 0.3-2 m away.
        want_close = close_view and placed == 0 and attempt < 10
        if want_close:
            centre_xy = camera_xy
        elif rng.uniform() < 0.7:
            centre_xy = _place_in_view(rng, camera_xy, camera_pose.yaw, (1.0, 6.0))
        else:
            centre_xy = rng.uniform(room_min, room_max)
        parts, radius = _random_furniture(rng, centre_xy, wall_height, ranges)
        if want_close:
            offset = _place_in_view(rng, np.zeros(2), camera_pose.yaw,
                                    (max(0.3, ranges.clear_radius) + radius, 2.0 + radius))
            parts = [
                dataclasses.replace(
                    part, centre_xy=(part.centre_xy[0] + offset[0], part.centre_xy[1] + offset[1])
                )
                for part in parts
            ]
            centre_xy = camera_xy + offset
        if fits(centre_xy, radius):
            objects.extend(parts)
            placed += 1

    clutter_count = int(rng.integers(ranges.clutter_count[0], ranges.clutter_count[1] + 1))
    for _ in range(clutter_count):
        centre_xy = _place_in_view(rng, camera_xy, camera_pose.yaw, (0.4, 4.0))
        item = _random_clutter(rng, centre_xy, ranges)
        if fits(centre_xy, item.footprint_radius()):
            objects.append(item)


def generate_scene(seed: int, randomisation: SceneRandomisation | None = None) -> Scene:
    """Build a random scene; the same seed always gives the same scene.

    The camera starts inside the room, at least ``clear_radius`` plus one metre from every wall,
    and no object comes within ``clear_radius`` of it. Most objects are placed inside the
    camera's initial view so that frames are rarely empty rooms.

    :param seed: any non-negative integer.
    :param randomisation: ranges to draw from; the defaults when ``None``.
    :returns: the scene, including the camera pose :func:`render_scene` uses.
    """
    ranges = randomisation or SceneRandomisation()
    rng = np.random.default_rng(seed)
    room_size = rng.uniform(*ranges.room_size, size=2)
    room_min = -room_size / 2.0
    room_max = room_size / 2.0
    has_ceiling = bool(rng.uniform() < 0.5)
    wall_height = float(rng.uniform(2.3, 3.4) if has_ceiling else rng.uniform(2.2, 5.0))

    margin = 1.0 + ranges.clear_radius
    camera_xy = rng.uniform(room_min + margin, np.maximum(room_max - margin, room_min + margin))
    # Look roughly into the room rather than at the nearest wall, as a camera usually does.
    towards_centre = math.atan2(-camera_xy[1], -camera_xy[0])
    camera_pose = CameraPose(
        position=(
            float(camera_xy[0]),
            float(camera_xy[1]),
            float(rng.uniform(*ranges.camera_height)),
        ),
        yaw=float(towards_centre + rng.uniform(-0.8, 0.8)),
        pitch=math.radians(float(rng.uniform(*ranges.camera_pitch_deg))),
        roll=math.radians(float(rng.uniform(-ranges.camera_roll_deg, ranges.camera_roll_deg))),
    )

    floor = _random_material(rng, (0.15, 1.2), ranges)
    walls = tuple(_random_material(rng, (0.1, 1.0), ranges) for _ in range(4))
    ceiling = _random_material(rng, (0.3, 1.5), ranges)
    if ranges.texture_family == 'B':
        lighting = _held_out_lighting(rng, indoor=has_ceiling)
    else:
        lighting = _random_lighting(rng, indoor=has_ceiling)

    objects: list[Box | Sphere | Cylinder] = []
    object_count = int(rng.integers(ranges.object_count[0], ranges.object_count[1] + 1))
    attempts = 0
    while len(objects) < object_count and attempts < 20 * object_count:
        attempts += 1
        if rng.uniform() < 0.6:
            bearing = camera_pose.yaw + rng.uniform(-0.6, 0.6)
            distance = rng.uniform(ranges.clear_radius + 0.6, 9.0)
            centre_xy = camera_xy + distance * np.array([math.cos(bearing), math.sin(bearing)])
        else:
            centre_xy = rng.uniform(room_min, room_max)
        candidate = _random_object(rng, centre_xy, wall_height, ranges)
        radius = candidate.footprint_radius()
        inside_room = np.all(centre_xy - radius > room_min) and np.all(
            centre_xy + radius < room_max
        )
        clear_of_camera = np.linalg.norm(centre_xy - camera_xy) > ranges.clear_radius + radius
        if inside_room and clear_of_camera:
            objects.append(candidate)
    # Drawn after everything above, so scenes without furniture or clutter stay as they were.
    if ranges.furniture_count[1] > 0 or ranges.clutter_count[1] > 0:
        _add_furniture_and_clutter(
            rng, ranges, objects, camera_pose, (room_min, room_max), wall_height
        )

    return Scene(
        room_min_xy=(float(room_min[0]), float(room_min[1])),
        room_max_xy=(float(room_max[0]), float(room_max[1])),
        wall_height=wall_height,
        has_ceiling=has_ceiling,
        floor=floor,
        walls=walls,  # type: ignore[arg-type]
        ceiling=ceiling,
        objects=tuple(objects),
        lighting=lighting,
        camera_pose=camera_pose,
        clear_radius=ranges.clear_radius,
    )


# ----------------------------------------------------------------------------- textures


def _value_noise(u: np.ndarray, v: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    """Smooth fractal value noise in [0, 1] at texture coordinates ``(u, v)`` (in cells)."""
    lattice = np.random.default_rng(seed).uniform(0.0, 1.0, (_NOISE_LATTICE_SIZE,) * 2)
    total = np.zeros_like(u)
    amplitude_sum = 0.0
    amplitude = 1.0
    frequency = 1.0
    for _ in range(octaves):
        su, sv = u * frequency, v * frequency
        iu, iv = np.floor(su), np.floor(sv)
        fu, fv = su - iu, sv - iv
        fu, fv = fu * fu * (3.0 - 2.0 * fu), fv * fv * (3.0 - 2.0 * fv)
        i0 = iu.astype(np.int64) % _NOISE_LATTICE_SIZE
        j0 = iv.astype(np.int64) % _NOISE_LATTICE_SIZE
        i1 = (i0 + 1) % _NOISE_LATTICE_SIZE
        j1 = (j0 + 1) % _NOISE_LATTICE_SIZE
        top = lattice[i0, j0] * (1.0 - fu) + lattice[i1, j0] * fu
        bottom = lattice[i0, j1] * (1.0 - fu) + lattice[i1, j1] * fu
        total += amplitude * (top * (1.0 - fv) + bottom * fv)
        amplitude_sum += amplitude
        amplitude *= 0.5
        frequency *= 2.03
    return total / amplitude_sum


def _pink_noise(cu: np.ndarray, v_cells: np.ndarray, seed: int) -> np.ndarray:
    """Value noise over seven octaves with amplitude halving as frequency doubles.

    Amplitude proportional to 1/frequency is the spectrum of natural images and of most real
    surfaces (plaster, concrete, carpet, dirt): detail at every scale from the cell size down to
    a hundredth of it.
    """
    return _value_noise(cu, v_cells, seed, octaves=7)


def _pink_noise_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """1/f noise with its contrast stretched, so the two colours are both reached."""
    return np.clip((_pink_noise(cu, cv, material.noise_seed) - 0.5) * 2.5 + 0.5, 0.0, 1.0)


def _along_and_across(cu: np.ndarray, cv: np.ndarray, angle: float) -> tuple[np.ndarray, ...]:
    """Texture coordinates rotated so the first runs along ``angle``."""
    cos_angle, sin_angle = math.cos(angle), math.sin(angle)
    return cu * cos_angle + cv * sin_angle, -cu * sin_angle + cv * cos_angle


def _wood_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Growth rings cut lengthwise: bands across the grain, warped by noise, with fine fibres."""
    along, across = _along_and_across(cu, cv, material.stripe_angle)
    warp = _value_noise(along * 0.15, across * 0.6, material.noise_seed, octaves=3)
    rings = (across * 3.0 + 2.5 * warp) % 1.0
    # Late wood (the dark part of a ring) is narrow and sharp-edged, early wood broad.
    late_wood = np.clip((rings - 0.7) / 0.3, 0.0, 1.0) ** 2
    fibres = _value_noise(along * 0.8, across * 25.0, material.noise_seed + 2, octaves=2)
    return np.clip(0.75 * late_wood + 0.35 * (fibres - 0.5) + 0.1, 0.0, 1.0)


def _fabric_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Plain weave: threads over and under each other, with uneven (slubbed) yarn."""
    threads = 12.0
    su, sv = cu * threads, cv * threads
    warp_on_top = (np.floor(su) + np.floor(sv)) % 2.0 == 0.0
    # Each thread is brightest along its middle, where it faces the light.
    warp_profile = np.sin(np.pi * (su % 1.0))
    weft_profile = np.sin(np.pi * (sv % 1.0))
    weave = np.where(warp_on_top, warp_profile, weft_profile)
    slubs = _pink_noise(cu * 0.5, cv * 0.5, material.noise_seed)
    return np.clip(0.6 * (1.0 - weave) + 0.6 * (slubs - 0.5) + 0.2, 0.0, 1.0)


def _marble_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Veins: thin sharp lines along a direction, strongly warped by 1/f turbulence."""
    along, _ = _along_and_across(cu, cv, material.stripe_angle)
    turbulence = _pink_noise(cu * 0.7, cv * 0.7, material.noise_seed)
    veins = np.abs(np.sin(np.pi * (along * 1.5 + 5.0 * turbulence)))
    return np.clip(1.0 - veins**0.25 + 0.3 * (turbulence - 0.5), 0.0, 1.0)


def _granite_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Grains: fine speckles of the second colour over a mottled 1/f ground."""
    grains = _value_noise(cu * 40.0, cv * 40.0, material.noise_seed + 3, octaves=1)
    ground = _pink_noise(cu, cv, material.noise_seed)
    return np.clip((grains > 0.72) + 0.5 * (ground - 0.5) + 0.15, 0.0, 1.0)


# Natural patterns by name: texture coordinates in cells (and the material) to a 0-1 weight of the
# second colour.
_NATURAL_TEXTURES = {
    'pink_noise': _pink_noise_texture,
    'wood': _wood_texture,
    'fabric': _fabric_texture,
    'marble': _marble_texture,
    'granite': _granite_texture,
}


def _albedo(material: Material, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Surface colour (N×3) of ``material`` at texture coordinates ``(u, v)`` in metres."""
    a = np.asarray(material.colour_a)
    b = np.asarray(material.colour_b)
    cu, cv = u / material.cell_size, v / material.cell_size
    if material.pattern == 'checker':
        weight = ((np.floor(cu) + np.floor(cv)) % 2.0).astype(np.float64)
    elif material.pattern == 'stripes':
        along = cu * math.cos(material.stripe_angle) + cv * math.sin(material.stripe_angle)
        weight = ((along % 1.0) < 0.5).astype(np.float64)
    elif material.pattern == 'bricks':
        row = np.floor(cv * 2.0)
        shifted = cu + 0.5 * (row % 2.0)
        mortar = ((shifted % 1.0) < 0.06) | (((cv * 2.0) % 1.0) < 0.1)
        weight = mortar.astype(np.float64)
    elif material.pattern == 'noise':
        weight = _value_noise(cu, cv, material.noise_seed)
    elif material.pattern in _NATURAL_TEXTURES:
        weight = _NATURAL_TEXTURES[material.pattern](cu, cv, material)
    else:
        weight = np.zeros_like(u)
    colour = a[None, :] * (1.0 - weight[:, None]) + b[None, :] * weight[:, None]
    # Large, soft blotches (dirt, uneven paint) on every surface.
    variation = _value_noise(u / 1.7, v / 1.7, material.noise_seed + 1, octaves=2)
    colour *= 1.0 + material.variation * (variation[:, None] - 0.5) * 2.0
    return np.clip(colour, 0.0, 1.0)


# ----------------------------------------------------------------------------- intersections


def _intersect_plane(
    origins: np.ndarray, directions: np.ndarray, axis: int, offset: float
) -> np.ndarray:
    """Ray parameter where rays meet the plane ``p[axis] == offset``; inf if never (forwards)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (offset - origins[:, axis]) / directions[:, axis]
    return np.where(np.isfinite(t) & (t > _HIT_EPSILON), t, np.inf)


def _box_frame(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """World-to-box rotation and the box centre; box axes run along its edges."""
    cos_yaw, sin_yaw = math.cos(box.yaw), math.sin(box.yaw)
    world_to_box = np.array([[cos_yaw, sin_yaw, 0.0], [-sin_yaw, cos_yaw, 0.0], [0.0, 0.0, 1.0]])
    centre = np.array([box.centre_xy[0], box.centre_xy[1], box.base_height + box.size[2] / 2.0])
    return world_to_box, centre


def _intersect_box(origins: np.ndarray, directions: np.ndarray, box: Box) -> np.ndarray:
    """Slab test in the box's own frame; returns the entry parameter or inf."""
    world_to_box, centre = _box_frame(box)
    local_origins = (origins - centre) @ world_to_box.T
    local_dirs = directions @ world_to_box.T
    half = np.asarray(box.size) / 2.0
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = 1.0 / local_dirs
        t_low = (-half - local_origins) * inverse
        t_high = (half - local_origins) * inverse
    # 0 * inf gives NaN for rays parallel to a face and starting on it; they do not enter.
    t_low = np.nan_to_num(t_low, nan=-np.inf)
    t_high = np.nan_to_num(t_high, nan=np.inf)
    t_near = np.max(np.minimum(t_low, t_high), axis=1)
    t_far = np.min(np.maximum(t_low, t_high), axis=1)
    return np.where((t_near <= t_far) & (t_near > _HIT_EPSILON), t_near, np.inf)


def _intersect_sphere(origins: np.ndarray, directions: np.ndarray, sphere: Sphere) -> np.ndarray:
    """Nearest forward intersection with a sphere, or inf."""
    offset = origins - np.asarray(sphere.centre)
    a = np.einsum('ij,ij->i', directions, directions)
    half_b = np.einsum('ij,ij->i', directions, offset)
    c = np.einsum('ij,ij->i', offset, offset) - sphere.radius**2
    discriminant = half_b * half_b - a * c
    with np.errstate(invalid='ignore'):
        t = (-half_b - np.sqrt(discriminant)) / a
    return np.where((discriminant >= 0.0) & (t > _HIT_EPSILON), t, np.inf)


def _intersect_cylinder(
    origins: np.ndarray, directions: np.ndarray, cylinder: Cylinder
) -> np.ndarray:
    """Nearest forward intersection with the side or the top of an upright cylinder, or inf."""
    ox = origins[:, 0] - cylinder.centre_xy[0]
    oy = origins[:, 1] - cylinder.centre_xy[1]
    dx, dy, dz = directions[:, 0], directions[:, 1], directions[:, 2]
    a = dx * dx + dy * dy
    half_b = dx * ox + dy * oy
    c = ox * ox + oy * oy - cylinder.radius**2
    discriminant = half_b * half_b - a * c
    with np.errstate(invalid='ignore', divide='ignore'):
        t_side = (-half_b - np.sqrt(discriminant)) / a
        z_side = origins[:, 2] + t_side * dz
    side_ok = (
        (discriminant >= 0) & (t_side > _HIT_EPSILON) & (z_side >= 0) & (z_side <= cylinder.height)
    )
    t_top = _intersect_plane(origins, directions, 2, cylinder.height)
    with np.errstate(invalid='ignore'):
        top_x = ox + t_top * dx
        top_y = oy + t_top * dy
    top_ok = np.isfinite(t_top) & (top_x * top_x + top_y * top_y <= cylinder.radius**2)
    return np.minimum(np.where(side_ok, t_side, np.inf), np.where(top_ok, t_top, np.inf))


def _bounding_sphere(obj: Box | Sphere | Cylinder) -> tuple[np.ndarray, float]:
    """Centre and radius of a sphere that encloses the object."""
    if isinstance(obj, Sphere):
        return np.asarray(obj.centre), obj.radius
    if isinstance(obj, Box):
        _, centre = _box_frame(obj)
        return centre, 0.5 * float(np.linalg.norm(obj.size))
    centre = np.array([obj.centre_xy[0], obj.centre_xy[1], obj.height / 2.0])
    return centre, math.hypot(obj.radius, obj.height / 2.0)


def _may_hit_sphere(
    origins: np.ndarray, directions: np.ndarray, centre: np.ndarray, radius: float
) -> np.ndarray:
    """Rays whose forward half-line meets a sphere (rays starting inside it included).

    This cull runs for every object on every ray and dominated the profile. Camera rays share one
    origin and shadow rays one direction (both passed as ``np.broadcast_to`` views, stride 0):
    then the dot products collapse to one matrix-vector product and a scalar.
    """
    # A ray meets the sphere ahead of its origin iff the origin is inside (c < 0), or the centre
    # lies ahead (half_b < 0) within reach (discriminant ≥ 0). No square root, no division: a
    # superset of the exact test's hits, which is all a cull needs.
    if origins.strides[0] == 0:
        offset = origins[0] - centre
        half_b = directions @ offset
        c = float(offset @ offset) - radius**2
        if c < 0.0:
            return np.ones(len(directions), dtype=bool)
        a = np.einsum('ij,ij->i', directions, directions)
        return (half_b < 0.0) & (half_b * half_b >= a * c)
    offset = origins - centre
    c = np.einsum('ij,ij->i', offset, offset) - radius**2
    if directions.strides[0] == 0:
        half_b = offset @ directions[0]
        a = float(directions[0] @ directions[0])
    else:
        half_b = np.einsum('ij,ij->i', directions, offset)
        a = np.einsum('ij,ij->i', directions, directions)
    return (c < 0.0) | ((half_b < 0.0) & (half_b * half_b >= a * c))


def _intersect_object_sparse(
    origins: np.ndarray, directions: np.ndarray, obj: Box | Sphere | Cylinder
) -> tuple[np.ndarray, np.ndarray]:
    """Return the rays that may hit one object and their ray parameters (inf = miss)."""
    if isinstance(obj, Sphere):
        t = _intersect_sphere(origins, directions, obj)
        hits = np.flatnonzero(np.isfinite(t))
        return hits, t[hits]
    # Most rays miss a given object; a cheap bounding-sphere test spares them the exact test,
    # and the caller only touches the few candidates, not every ray.
    candidates = np.flatnonzero(_may_hit_sphere(origins, directions, *_bounding_sphere(obj)))
    if not len(candidates):
        return candidates, np.empty(0)
    exact = _intersect_box if isinstance(obj, Box) else _intersect_cylinder
    return candidates, exact(origins[candidates], directions[candidates], obj)


def _intersect_object(
    origins: np.ndarray, directions: np.ndarray, obj: Box | Sphere | Cylinder
) -> np.ndarray:
    """Intersect rays (one origin per ray) with one object; inf where they miss."""
    candidates, t_candidates = _intersect_object_sparse(origins, directions, obj)
    t = np.full(len(directions), np.inf)
    t[candidates] = t_candidates
    return t


def _object_normals_and_uv(
    points: np.ndarray, obj: Box | Sphere | Cylinder
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outward normals and texture coordinates (metres) at hit points on an object."""
    if isinstance(obj, Box):
        world_to_box, centre = _box_frame(obj)
        local = (points - centre) @ world_to_box.T
        half = np.asarray(obj.size) / 2.0
        # The face hit is the one whose plane the point lies closest to, relative to the size.
        face_axis = np.argmax(np.abs(local) / half, axis=1)
        local_normals = np.zeros_like(local)
        rows = np.arange(len(local))
        local_normals[rows, face_axis] = np.sign(local[rows, face_axis])
        normals = local_normals @ world_to_box
        u = np.where(face_axis == 0, local[:, 1], local[:, 0])
        v = np.where(face_axis == 2, local[:, 1], local[:, 2])
        return normals, u, v
    if isinstance(obj, Sphere):
        normals = (points - np.asarray(obj.centre)) / obj.radius
        u = np.arctan2(normals[:, 1], normals[:, 0]) * obj.radius
        v = np.arcsin(np.clip(normals[:, 2], -1.0, 1.0)) * obj.radius
        return normals, u, v
    rel_x = points[:, 0] - obj.centre_xy[0]
    rel_y = points[:, 1] - obj.centre_xy[1]
    on_top = points[:, 2] > obj.height - 1e-6
    normals = np.stack([rel_x, rel_y, np.zeros_like(rel_x)], axis=1) / obj.radius
    normals[on_top] = (0.0, 0.0, 1.0)
    u = np.where(on_top, rel_x, np.arctan2(rel_y, rel_x) * obj.radius)
    v = np.where(on_top, rel_y, points[:, 2])
    return normals, u, v


# ----------------------------------------------------------------------------- rendering


def _camera_rays(intrinsics: PinholeIntrinsics) -> np.ndarray:
    """Camera-frame rays (H·W×3) with unit z, row-major over the image."""
    columns = (np.arange(intrinsics.width, dtype=np.float64) - intrinsics.cx) / intrinsics.fx
    rows = (np.arange(intrinsics.height, dtype=np.float64) - intrinsics.cy) / intrinsics.fy
    x, y = np.meshgrid(columns, rows)
    return np.stack([x.ravel(), y.ravel(), np.ones(x.size)], axis=1)


def _rays_towards_sphere(
    intrinsics: PinholeIntrinsics,
    pose: CameraPose,
    rotation: np.ndarray,
    centre: np.ndarray,
    radius: float,
) -> np.ndarray | None:
    """Return the camera rays inside the image rectangle that can see a sphere.

    The rectangle bounds the projection of the sphere's bounding cube (x/z and y/z over a box in
    front of the camera peak at its corners), so it holds every ray that meets the sphere. Small
    objects (legs, clutter) cover a few hundred of the 10⁵ rays, and testing only those is what
    keeps scenes with dozens of parts fast.

    :returns: row-major ray indices, or ``None`` when the sphere reaches behind the camera (then
        every ray must be tested).
    """
    local = rotation.T @ (centre - np.asarray(pose.position))
    if local[2] - radius < 1e-3:
        return None
    corners_x = (local[0] + np.array([-radius, radius]))[:, None]
    corners_y = (local[1] + np.array([-radius, radius]))[:, None]
    depths = (local[2] + np.array([-radius, radius]))[None, :]
    columns = intrinsics.fx * (corners_x / depths) + intrinsics.cx
    rows = intrinsics.fy * (corners_y / depths) + intrinsics.cy
    first_column = max(int(math.floor(columns.min())) - 1, 0)
    last_column = min(int(math.ceil(columns.max())) + 1, intrinsics.width - 1)
    first_row = max(int(math.floor(rows.min())) - 1, 0)
    last_row = min(int(math.ceil(rows.max())) + 1, intrinsics.height - 1)
    if first_column > last_column or first_row > last_row:
        return np.empty(0, dtype=np.int64)
    row_starts = np.arange(first_row, last_row + 1, dtype=np.int64) * intrinsics.width
    return (row_starts[:, None] + np.arange(first_column, last_column + 1)).ravel()


def _room_surfaces(scene: Scene) -> list[tuple[int, float, Material]]:
    """Planes bounding the room as ``(axis, offset, material)``, floor first."""
    surfaces = [
        (2, 0.0, scene.floor),
        (0, scene.room_min_xy[0], scene.walls[0]),
        (0, scene.room_max_xy[0], scene.walls[1]),
        (1, scene.room_min_xy[1], scene.walls[2]),
        (1, scene.room_max_xy[1], scene.walls[3]),
    ]
    if scene.has_ceiling:
        surfaces.append((2, scene.wall_height, scene.ceiling))
    return surfaces


def _sky_colour(lighting: Lighting, directions: np.ndarray) -> np.ndarray:
    """Vertical gradient from horizon to zenith, with faint clouds."""
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    elevation = np.clip(unit[:, 2], 0.0, 1.0)
    blend = np.sqrt(elevation)[:, None]
    sky = np.asarray(lighting.sky_horizon) * (1.0 - blend) + np.asarray(lighting.sky_zenith) * blend
    with np.errstate(divide='ignore', invalid='ignore'):
        cloud_u = np.nan_to_num(unit[:, 0] / np.maximum(unit[:, 2], 0.05)) * 3.0
        cloud_v = np.nan_to_num(unit[:, 1] / np.maximum(unit[:, 2], 0.05)) * 3.0
    clouds = np.clip(_value_noise(cloud_u, cloud_v, 7, octaves=4) * 1.6 - 0.7, 0.0, 1.0)
    return sky * (1.0 - 0.6 * clouds[:, None]) + 0.6 * clouds[:, None]


def render(
    scene: Scene,
    intrinsics: PinholeIntrinsics,
    pose: CameraPose | None = None,
    noise_seed: int = 0,
) -> SceneRender:
    """Render a scene from a pose.

    :param scene: what to render.
    :param intrinsics: camera model and image size.
    :param pose: camera pose; ``scene.camera_pose`` when ``None``.
    :param noise_seed: seed of the small sensor noise added to the colour image.
    :returns: colour image, z-depth and the camera that took them.
    """
    pose = pose or scene.camera_pose
    rotation = pose.rotation()
    camera_centre = np.asarray(pose.position, dtype=np.float64)
    directions = _camera_rays(intrinsics) @ rotation.T
    origins = np.broadcast_to(camera_centre, directions.shape)
    ray_count = len(directions)

    room_surfaces = _room_surfaces(scene)
    nearest_t = np.full(ray_count, np.inf)
    nearest_id = np.full(ray_count, -1, dtype=np.int64)
    for surface_id, (axis, offset, _) in enumerate(room_surfaces):
        t = _intersect_plane(origins, directions, axis, offset)
        closer = t < nearest_t
        nearest_t[closer] = t[closer]
        nearest_id[closer] = surface_id
    # Walls end at the wall height; above them (no ceiling) the sky is seen.
    with np.errstate(invalid='ignore'):
        hit_height = camera_centre[2] + nearest_t * directions[:, 2]
    nearest_id[np.isfinite(nearest_t) & (hit_height > scene.wall_height + 1e-9)] = -1
    nearest_t[nearest_id == -1] = np.inf

    object_base = len(room_surfaces)
    for index, obj in enumerate(scene.objects):
        in_view = _rays_towards_sphere(intrinsics, pose, rotation, *_bounding_sphere(obj))
        if in_view is None:
            candidates, t = _intersect_object_sparse(origins, directions, obj)
        elif not len(in_view):
            continue
        else:
            candidates, t = _intersect_object_sparse(
                np.broadcast_to(camera_centre, (len(in_view), 3)), directions[in_view], obj
            )
            candidates = in_view[candidates]
        closer = t < nearest_t[candidates]
        nearest_t[candidates[closer]] = t[closer]
        nearest_id[candidates[closer]] = object_base + index

    surface = nearest_id >= 0
    points = np.zeros((ray_count, 3))
    points[surface] = camera_centre + nearest_t[surface, None] * directions[surface]
    normals = np.zeros((ray_count, 3))
    albedo = np.zeros((ray_count, 3))
    for surface_id, (axis, _, material) in enumerate(room_surfaces):
        mask = nearest_id == surface_id
        if not np.any(mask):
            continue
        # Room surfaces face inwards, towards the camera.
        normals[mask, axis] = np.sign(-directions[mask, axis])
        in_plane = [a for a in range(3) if a != axis]
        albedo[mask] = _albedo(material, points[mask, in_plane[0]], points[mask, in_plane[1]])
    for index, obj in enumerate(scene.objects):
        mask = nearest_id == object_base + index
        if not np.any(mask):
            continue
        object_normals, u, v = _object_normals_and_uv(points[mask], obj)
        normals[mask] = object_normals
        albedo[mask] = _albedo(obj.material, u, v)

    lighting = scene.lighting
    sun = np.asarray(lighting.sun_direction)
    lit = np.zeros(ray_count)
    lit[surface] = np.clip(normals[surface] @ sun, 0.0, None)
    # Shadows: only objects cast them; the sun is treated as coming in over the walls.
    shadow_candidates = np.flatnonzero(surface & (lit > 0.0))
    if len(shadow_candidates) and scene.objects:
        shadow_origins = points[shadow_candidates] + 1e-3 * normals[shadow_candidates]
        in_shadow = np.zeros(len(shadow_candidates), dtype=bool)
        # All shadow rays run parallel to the sun, so a ray can only meet an object whose
        # bounding sphere lies within its radius across the sun: sorting the origins by one
        # coordinate across the sun lets each object test only a band of them.
        across = np.cross(sun, [0.0, 0.0, 1.0] if abs(sun[2]) < 0.9 else [1.0, 0.0, 0.0])
        across /= np.linalg.norm(across)
        order = np.argsort(shadow_origins @ across, kind='stable')
        sorted_across = (shadow_origins @ across)[order]
        for obj in scene.objects:
            centre, radius = _bounding_sphere(obj)
            reach = radius + 1e-6
            first, last = np.searchsorted(
                sorted_across, [centre @ across - reach, centre @ across + reach]
            )
            band = order[first:last]
            if not len(band):
                continue
            candidates, t = _intersect_object_sparse(
                shadow_origins[band], np.broadcast_to(sun, (len(band), 3)), obj
            )
            in_shadow[band[candidates[np.isfinite(t)]]] = True
        lit[shadow_candidates[in_shadow]] = 0.0
    light = lighting.ambient + lighting.sun_intensity * lit
    colour = albedo * light[:, None] * np.asarray(lighting.light_colour)

    distance = np.where(surface, nearest_t, 0.0) * np.linalg.norm(directions, axis=1)
    fog = np.exp(-distance / lighting.fog_distance)[:, None]
    colour = colour * fog + np.asarray(lighting.fog_colour) * (1.0 - fog)
    colour[~surface] = _sky_colour(lighting, directions[~surface])

    rng = np.random.default_rng(noise_seed)
    colour_255 = colour * 255.0 + rng.normal(0.0, 1.5, colour.shape)
    rgb = np.clip(np.rint(colour_255), 0, 255).astype(np.uint8)

    # Camera rays have unit z, so the ray parameter is the z-depth.
    depth = np.where(surface, nearest_t, SKY_DEPTH).astype(np.float32)
    shape = (intrinsics.height, intrinsics.width)
    return SceneRender(
        rgb=rgb.reshape(*shape, 3), depth=depth.reshape(shape), intrinsics=intrinsics, pose=pose
    )


def render_scene(
    seed: int,
    intrinsics: PinholeIntrinsics,
    randomisation: SceneRandomisation | None = None,
) -> SceneRender:
    """Generate the scene for ``seed`` and render it from its own camera pose.

    :param seed: scene seed; equal seeds give bit-identical frames.
    :param intrinsics: camera model and image size.
    :param randomisation: ranges to draw the scene from; the defaults when ``None``.
    :returns: the rendered frame.
    """
    return render(generate_scene(seed, randomisation), intrinsics, noise_seed=seed)


def camera_trajectory(scene: Scene, frame_count: int) -> list[CameraPose]:
    """Plan a smooth camera path through a scene that stays inside its object-free circle.

    The camera glides along a gentle arc while panning about 40 degrees and nodding slightly, the
    way a robot turning on the spot would see a room. It never leaves the circle of
    ``scene.clear_radius`` around the start, so it cannot enter an object.

    :param scene: the scene; its camera pose is the start of the path.
    :param frame_count: number of poses.
    :returns: ``frame_count`` poses.
    """
    start = scene.camera_pose
    poses = []
    travel = 0.8 * scene.clear_radius
    for index in range(frame_count):
        phase = index / max(frame_count - 1, 1)
        # Smoothstep keeps the start and the end of the motion gentle.
        eased = phase * phase * (3.0 - 2.0 * phase)
        yaw = start.yaw - math.radians(20.0) + math.radians(40.0) * eased
        # Move sideways-forwards along a shallow arc of chord length ``travel``.
        offset_forward = travel * (eased - 0.5)
        offset_side = 0.3 * travel * math.sin(math.pi * eased)
        x = (
            start.position[0]
            + offset_forward * math.cos(start.yaw)
            - offset_side * math.sin(start.yaw)
        )
        y = (
            start.position[1]
            + offset_forward * math.sin(start.yaw)
            + offset_side * math.cos(start.yaw)
        )
        pitch = start.pitch + math.radians(2.0) * math.sin(2.0 * math.pi * phase)
        poses.append(
            CameraPose(position=(x, y, start.position[2]), yaw=yaw, pitch=pitch, roll=start.roll)
        )
    return poses


def render_trajectory(
    seed: int,
    intrinsics: PinholeIntrinsics,
    frame_count: int,
    randomisation: SceneRandomisation | None = None,
) -> list[SceneRender]:
    """Render ``frame_count`` frames of one scene along :func:`camera_trajectory`.

    :param seed: scene seed.
    :param intrinsics: camera model and image size.
    :param frame_count: number of frames.
    :param randomisation: ranges to draw the scene from; the defaults when ``None``.
    :returns: the frames in order.
    """
    scene = generate_scene(seed, randomisation)
    return [
        render(scene, intrinsics, pose, noise_seed=seed * 100_003 + index)
        for index, pose in enumerate(camera_trajectory(scene, frame_count))
    ]
