"""Small bags for the regression tests, written with ``rosbags`` (no rclpy)."""

import dataclasses

import numpy as np

from edge_perception.bags.types import (
    CLASSIFICATION_TYPE,
    DepthFrame,
    IMAGE_TYPE,
    INFERENCE_TIMING_TYPE,
    package_typestore,
    TYPESTORE,
)
from edge_perception.bags.writer import write_depth_bag, write_mcap_bag
from edge_perception.messages import bag_types, header_msg, image_msg

WIDTH, HEIGHT = 32, 24
PERIOD_NS = 100_000_000
START_NS = 1_700_000_000_000_000_000
LABEL_TOPIC = '/camera/digit_label'
BAG_TYPES = bag_types(TYPESTORE)


def frame_stamps(count):
    """Stamps (ns) of ``count`` frames 0.1 s apart."""
    return [START_NS + index * PERIOD_NS for index in range(count)]


def truth_depths(count, near=1.0, far=3.0, step=1.0):
    """Ground-truth depth per frame: a ramp near-far m, ``step`` m farther each frame, with a
    NaN hole in the first row.
    """
    depths = []
    for index in range(count):
        depth = np.tile(np.linspace(near, far, WIDTH, dtype=np.float32), (HEIGHT, 1)) + \
            np.float32(index * step)
        depth[0, :4] = np.nan
        depths.append(depth)
    return depths


def red_encoded_rgb(depth, centimetres_per_unit=1.0):
    """An RGB image whose red channel holds the depth in centimetres (NaN as 0)."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[:, :, 0] = np.clip(np.round(np.nan_to_num(depth * 100 / centimetres_per_unit)), 0, 255)
    return rgb


def write_camera_bag(path, depths):
    """A depth recording: rgb8 image (depth in cm in the red channel), camera info and 32FC1
    ground truth per frame.
    """
    camera_matrix = np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]])
    write_depth_bag(path, [DepthFrame(stamp, red_encoded_rgb(depth), depth, camera_matrix)
                           for stamp, depth in zip(frame_stamps(len(depths)), depths,
                                                   strict=True)])


def write_bag_with_broken_frames(path, depths, broken):
    """Like :func:`write_camera_bag` without camera info; frames in ``broken`` carry an image
    whose data is shorter than its size says (a node rejects it).
    """
    records = []
    for index, (stamp, depth) in enumerate(zip(frame_stamps(len(depths)), depths, strict=True)):
        image = image_msg(red_encoded_rgb(depth), 'rgb8', stamp, 'camera', BAG_TYPES)
        if index in broken:
            image = dataclasses.replace(image, data=image.data[:10])
        records += [('/camera/image_raw', stamp, image),
                    ('/camera/depth/ground_truth', stamp,
                     image_msg(depth, '32FC1', stamp, 'camera', BAG_TYPES))]
    write_mcap_bag(path, {'/camera/image_raw': IMAGE_TYPE,
                          '/camera/depth/ground_truth': IMAGE_TYPE}, records)


def write_label_bag(path, labels):
    """A digits recording: a gray rgb8 image and a std_msgs/UInt8 label per frame."""
    typestore = package_typestore()
    uint8 = typestore.types['std_msgs/msg/UInt8']
    records = []
    for stamp, label in zip(frame_stamps(len(labels)), labels, strict=True):
        image = np.full((HEIGHT, WIDTH, 3), 20 * label, np.uint8)
        records += [('/camera/image_raw', stamp,
                     image_msg(image, 'rgb8', stamp, 'camera', BAG_TYPES)),
                    (LABEL_TOPIC, stamp, uint8(data=label))]
    write_mcap_bag(path, {'/camera/image_raw': IMAGE_TYPE, LABEL_TOPIC: 'std_msgs/msg/UInt8'},
                   records, typestore=typestore)


def write_depth_outputs(path, depths, stamps=None, timing=True):
    """A recording of a depth node: 32FC1 on /depth and InferenceTiming per frame."""
    typestore = package_typestore()
    stamps = stamps or frame_stamps(len(depths))
    records = []
    for index, (stamp, depth) in enumerate(zip(stamps, depths, strict=True)):
        received = stamp + 5_000_000
        records.append(('/depth', received, image_msg(depth, '32FC1', stamp, 'camera', BAG_TYPES)))
        if timing:
            records.append(('/inference_timing', received, timing_message(
                typestore, stamp, 10.0 + index)))
    topics = {'/depth': IMAGE_TYPE}
    if timing:
        topics['/inference_timing'] = INFERENCE_TIMING_TYPE
    write_mcap_bag(path, topics, records, typestore=typestore)


def write_classification_outputs(path, results):
    """A recording of a classifier node: ``results`` is ``[(class_ids, scores)]`` per frame."""
    typestore = package_typestore()
    classification = typestore.types[CLASSIFICATION_TYPE]
    records = []
    for stamp, (class_ids, scores) in zip(frame_stamps(len(results)), results, strict=True):
        records.append(('/classification', stamp + 1_000_000, classification(
            header=header_msg(stamp, 'camera', bag_types(typestore)),
            class_ids=np.array(class_ids, np.uint32),
            labels=[str(class_id) for class_id in class_ids],
            scores=np.array(scores, np.float32), model='tiny.xml')))
    write_mcap_bag(path, {'/classification': CLASSIFICATION_TYPE}, records, typestore=typestore)


def timing_message(typestore, stamp, inference_ms):
    """An InferenceTiming with the given stamp and inference time."""
    return typestore.types[INFERENCE_TIMING_TYPE](
        header=header_msg(stamp, 'camera', bag_types(typestore)), model='tiny.xml',
        device='CPU', preprocessing='graph',
        preprocess_ms=0.1, inference_ms=inference_ms, postprocess_ms=0.5,
        total_ms=inference_ms + 1.0, latency_ms=inference_ms + 2.0, fps=10.0,
        frames_received=1, frames_processed=1, frames_dropped=0, frames_rejected=0)
