"""Scenes at the scale of real rooms, for models meant to run on a real camera indoors.

The classic scenes (rooms 5-13 m on a side) teach depth contrasts real rooms rarely have: on
the frames of ``../shared/data/real_rgbd_dev`` the measured depth spans about 1-3 m (log-depth
spread 0.21-0.26) and a constant at the frame's median already scores median-scaled δ1 0.6-0.84.
:data:`REAL_ROOM` draws rooms of living-room and office size, crowded with furniture, seen from a
robot's or a hand-held camera's height, half the surfaces with natural textures.
"""

from edge_perception.training.scenes import SceneRandomisation

#: Rooms 3.5-7 m on a side with 3-8 pieces of furniture, cameras 0.9-1.6 m high pitched up to
#: 25° down, close views of furniture in a third of the scenes.
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
