"""Frames of a scene: from its own pose, or along a smooth path a robot could drive."""

from __future__ import annotations

import math

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.training.scenes.layout import generate_scene, SceneRandomisation
from edge_perception.training.scenes.ray_casting import render
from edge_perception.training.scenes.scene import CameraPose, Scene, SceneRender


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
