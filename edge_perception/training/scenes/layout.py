"""Drawing a random scene: the room, furniture, clutter, objects, materials and light.

Every draw comes from one generator seeded by the scene's seed, so equal seeds give equal
scenes; options left at their defaults draw no random numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import math

import numpy as np

from edge_perception.training.scenes.scene import (
    Box,
    CameraPose,
    Cylinder,
    Lighting,
    Material,
    Scene,
    Sphere,
)

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

#: Rooms at the scale of real living rooms and offices (3.5-7 m on a side; the classic 5-13 m
#: teach depth contrasts real rooms rarely have), crowded with furniture, seen from a robot's or
#: a hand-held camera's height (0.9-1.6 m) pitched up to 25° down; issue 25's experiment.
REAL_ROOM = SceneRandomisation(
    camera_height=(0.9, 1.6),
    camera_pitch_deg=(0.0, 25.0),
    room_size=(3.5, 7.0),
    object_count=(1, 5),
    clear_radius=0.4,
    furniture_count=(3, 8),
    clutter_count=(0, 6),
    close_view_share=0.35,
    natural_texture_share=0.7,
)

#: Named randomisations for command lines.
SCENE_STYLES = {'classic': SceneRandomisation(), 'indoor-robot': INDOOR_ROBOT,
                'real-room': REAL_ROOM}


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
