"""Hypothesis strategies for malformed (and occasionally valid) camera messages."""

from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo, Image

from edge_perception.core.image_codec import ENCODINGS

# Resolutions a near-valid frame is drawn from: switching between them recompiles the model.
RESOLUTIONS = ((48, 64), (6, 8), (1, 1), (2, 3), (31, 17))
ODD_ENCODINGS = ('', 'RGB8', 'rgb9', 'yuv422', 'bayer_rggb8', '8UC4', '64FC1', 'mono8 ',
                 'rgb8\x00', '\u00e9ncoding')
HUGE = (2**31 - 1, 2**32 - 1, 1 << 20, 65535)
UINT32 = st.integers(0, 2**32 - 1)


def _pixel_bytes(encoding):
    info = ENCODINGS.get(encoding)
    return info.pixel_bytes if info else 3


@st.composite
def near_valid_image(draw):
    """A frame of a known encoding and small size, with some of its fields then broken."""
    height, width = draw(st.sampled_from(RESOLUTIONS))
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    step = width * _pixel_bytes(encoding) + draw(st.sampled_from((0, 0, 0, 1, 5, -1)))
    length = max(step, 0) * height
    msg = Image(height=height, width=width, encoding=encoding, step=max(step, 0),
                is_bigendian=draw(st.sampled_from((0, 0, 1, 255))))
    mutations = draw(st.sets(st.sampled_from(
        ('step', 'short', 'long', 'encoding', 'height', 'width', 'zero')), max_size=3))
    if 'step' in mutations:
        msg.step = draw(st.one_of(st.integers(0, step + 8), st.sampled_from(HUGE)))
    if 'short' in mutations:
        length = draw(st.integers(0, max(length - 1, 0)))
    if 'long' in mutations:
        length += draw(st.integers(1, 4096))
    if 'encoding' in mutations:
        msg.encoding = draw(st.sampled_from(ODD_ENCODINGS))
    if 'height' in mutations:
        msg.height = draw(st.one_of(st.integers(0, 64), st.sampled_from(HUGE)))
    if 'width' in mutations:
        msg.width = draw(st.one_of(st.integers(0, 64), st.sampled_from(HUGE)))
    if 'zero' in mutations:
        msg.height, msg.width = draw(st.sampled_from(((0, 0), (0, width), (height, 0))))
    msg.data = draw(st.binary(min_size=length, max_size=length)) if length <= 64 else \
        bytes([draw(st.integers(0, 255))]) * length
    return msg


@st.composite
def random_image(draw):
    """Every field drawn independently."""
    return Image(height=draw(st.one_of(st.integers(0, 16), UINT32)),
                 width=draw(st.one_of(st.integers(0, 16), UINT32)),
                 encoding=draw(st.one_of(st.sampled_from(sorted(ENCODINGS) + list(ODD_ENCODINGS)),
                                         st.text(max_size=12))),
                 is_bigendian=draw(st.integers(0, 255)),
                 step=draw(st.one_of(st.integers(0, 64), UINT32)),
                 data=draw(st.binary(max_size=256)))


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def camera_info(draw):
    """Intrinsics that are NaN, zero, negative, huge or fine, at any resolution."""
    fx, fy, cx, cy = (draw(st.one_of(ANY_FLOAT, st.sampled_from((0.0, 500.0, -1.0, 1e308))))
                      for _ in range(4))
    msg = CameraInfo(width=draw(st.one_of(st.integers(0, 64), UINT32)),
                     height=draw(st.one_of(st.integers(0, 64), UINT32)),
                     distortion_model=draw(st.sampled_from(('plumb_bob', '', 'fisheye'))))
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, draw(st.sampled_from((1.0, 0.0)))]
    msg.d = draw(st.lists(ANY_FLOAT, max_size=8))
    return msg


def malformed_image():
    """A near-valid or an entirely random Image."""
    return st.one_of(near_valid_image(), random_image())
