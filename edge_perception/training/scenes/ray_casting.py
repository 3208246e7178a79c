"""Rendering a scene by ray casting: intersections, shading, shadows, fog, sky and sensor noise.

Camera rays have unit z in the camera frame, so a ray's parameter at a hit is its z-depth.
"""

from __future__ import annotations

import math

import numpy as np

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.training.scenes.materials import albedo_at, value_noise
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

# Rays that travel less than this are treated as self-intersections (shadow rays start on a
# surface) and ignored.
_HIT_EPSILON = 1e-4




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
    clouds = np.clip(value_noise(cloud_u, cloud_v, 7, octaves=4) * 1.6 - 0.7, 0.0, 1.0)
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
    room_surfaces = _room_surfaces(scene)
    nearest_t, nearest_id = _nearest_room_hits(scene, room_surfaces, camera_centre, directions)
    _add_nearest_object_hits(scene, intrinsics, pose, rotation, directions,
                             len(room_surfaces), nearest_t, nearest_id)

    surface = nearest_id >= 0
    points = np.zeros((len(directions), 3))
    points[surface] = camera_centre + nearest_t[surface, None] * directions[surface]
    normals, albedo = _normals_and_albedo(scene, room_surfaces, directions, points, nearest_id)
    colour = _shade(scene, surface, points, normals, albedo)
    colour = _with_fog_and_sky(scene.lighting, colour, surface, nearest_t, directions)

    rng = np.random.default_rng(noise_seed)
    colour_255 = colour * 255.0 + rng.normal(0.0, 1.5, colour.shape)
    rgb = np.clip(np.rint(colour_255), 0, 255).astype(np.uint8)

    # Camera rays have unit z, so the ray parameter is the z-depth.
    depth = np.where(surface, nearest_t, SKY_DEPTH).astype(np.float32)
    shape = (intrinsics.height, intrinsics.width)
    return SceneRender(
        rgb=rgb.reshape(*shape, 3), depth=depth.reshape(shape), intrinsics=intrinsics, pose=pose
    )


def _nearest_room_hits(
    scene: Scene,
    room_surfaces: list[tuple[int, float, Material]],
    camera_centre: np.ndarray,
    directions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter and surface index of the nearest room surface per ray (-1: the sky)."""
    origins = np.broadcast_to(camera_centre, directions.shape)
    nearest_t = np.full(len(directions), np.inf)
    nearest_id = np.full(len(directions), -1, dtype=np.int64)
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
    return nearest_t, nearest_id


def _add_nearest_object_hits(
    scene: Scene,
    intrinsics: PinholeIntrinsics,
    pose: CameraPose,
    rotation: np.ndarray,
    directions: np.ndarray,
    object_base: int,
    nearest_t: np.ndarray,
    nearest_id: np.ndarray,
) -> None:
    """Update the nearest hits in place with the objects; object ``i`` gets ``object_base + i``."""
    camera_centre = np.asarray(pose.position, dtype=np.float64)
    for index, obj in enumerate(scene.objects):
        in_view = _rays_towards_sphere(intrinsics, pose, rotation, *_bounding_sphere(obj))
        if in_view is None:
            candidates, t = _intersect_object_sparse(
                np.broadcast_to(camera_centre, directions.shape), directions, obj
            )
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


def _normals_and_albedo(
    scene: Scene,
    room_surfaces: list[tuple[int, float, Material]],
    directions: np.ndarray,
    points: np.ndarray,
    nearest_id: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Surface normal and colour (N×3 each) at every hit; zero where a ray sees the sky."""
    normals = np.zeros((len(points), 3))
    albedo = np.zeros((len(points), 3))
    for surface_id, (axis, _, material) in enumerate(room_surfaces):
        mask = nearest_id == surface_id
        if not np.any(mask):
            continue
        # Room surfaces face inwards, towards the camera.
        normals[mask, axis] = np.sign(-directions[mask, axis])
        in_plane = [a for a in range(3) if a != axis]
        albedo[mask] = albedo_at(material, points[mask, in_plane[0]], points[mask, in_plane[1]])
    object_base = len(room_surfaces)
    for index, obj in enumerate(scene.objects):
        mask = nearest_id == object_base + index
        if not np.any(mask):
            continue
        object_normals, u, v = _object_normals_and_uv(points[mask], obj)
        normals[mask] = object_normals
        albedo[mask] = albedo_at(obj.material, u, v)
    return normals, albedo


def _shade(
    scene: Scene,
    surface: np.ndarray,
    points: np.ndarray,
    normals: np.ndarray,
    albedo: np.ndarray,
) -> np.ndarray:
    """Lambertian sun with cast shadows plus ambient light (N×3, before fog)."""
    lighting = scene.lighting
    sun = np.asarray(lighting.sun_direction)
    lit = np.zeros(len(points))
    lit[surface] = np.clip(normals[surface] @ sun, 0.0, None)
    sunlit = np.flatnonzero(surface & (lit > 0.0))
    if len(sunlit) and scene.objects:
        in_shadow = _in_object_shadow(
            scene.objects, points[sunlit] + 1e-3 * normals[sunlit], sun
        )
        lit[sunlit[in_shadow]] = 0.0
    light = lighting.ambient + lighting.sun_intensity * lit
    return albedo * light[:, None] * np.asarray(lighting.light_colour)


def _in_object_shadow(objects: list, origins: np.ndarray, sun: np.ndarray) -> np.ndarray:
    """Whether a ray from each origin towards the sun meets an object.

    Only objects cast shadows; the sun is treated as coming in over the walls.
    """
    in_shadow = np.zeros(len(origins), dtype=bool)
    # All shadow rays run parallel to the sun, so a ray can only meet an object whose
    # bounding sphere lies within its radius across the sun: sorting the origins by one
    # coordinate across the sun lets each object test only a band of them.
    across = np.cross(sun, [0.0, 0.0, 1.0] if abs(sun[2]) < 0.9 else [1.0, 0.0, 0.0])
    across /= np.linalg.norm(across)
    order = np.argsort(origins @ across, kind='stable')
    sorted_across = (origins @ across)[order]
    for obj in objects:
        centre, radius = _bounding_sphere(obj)
        reach = radius + 1e-6
        first, last = np.searchsorted(
            sorted_across, [centre @ across - reach, centre @ across + reach]
        )
        band = order[first:last]
        if not len(band):
            continue
        candidates, t = _intersect_object_sparse(
            origins[band], np.broadcast_to(sun, (len(band), 3)), obj
        )
        in_shadow[band[candidates[np.isfinite(t)]]] = True
    return in_shadow


def _with_fog_and_sky(
    lighting: Lighting,
    colour: np.ndarray,
    surface: np.ndarray,
    nearest_t: np.ndarray,
    directions: np.ndarray,
) -> np.ndarray:
    """Blend surfaces into the fog colour with distance; rays that hit nothing see the sky."""
    distance = np.where(surface, nearest_t, 0.0) * np.linalg.norm(directions, axis=1)
    fog = np.exp(-distance / lighting.fog_distance)[:, None]
    colour = colour * fog + np.asarray(lighting.fog_colour) * (1.0 - fog)
    colour[~surface] = _sky_colour(lighting, directions[~surface])
    return colour
