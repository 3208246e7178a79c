"""``stand_in_node``: the transport floor the package's nodes are measured against.

A node with the topics, QoS and message sizes of ``depth_node`` (or ``classifier_node``) that
does no inference and no computation: for each image it optionally waits ``work_ms`` (in place
of inference), then publishes a depth image, a cloud and a timing message of the image's size
from buffers built once. What it costs end to end beyond ``work_ms`` is what rclpy and Fast DDS
cost here: the floor ``scripts/benchmark.py`` compares the real nodes with.
"""

import time

import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from edge_perception.core.image_codec import ImageBuffer
from edge_perception.core.pointcloud_layout import CloudPacker
from edge_perception.messages import cloud_msg, image_msg_from_fields
from edge_perception.msg import Classification, InferenceTiming
from edge_perception.nodes.dds_profile import apply_large_message_profile
from edge_perception.nodes.parameter_tables import ParameterSpec
from edge_perception.nodes.parameters import declare_parameters
from edge_perception.nodes.qos import camera_qos, output_qos
from edge_perception.nodes.spinning import spin_until_shutdown

STAND_IN_PARAMETERS = (
    ParameterSpec('result', 'depth', "What to publish: depth (as depth_node: 'depth', 'points' "
                  "while subscribed, 'inference_timing') or classification.",
                  choices=('depth', 'classification'), read_only=True),
    ParameterSpec('work_ms', 0.0, 'Milliseconds to wait per frame in place of inference.',
                  value_range=(0.0, 1000.0), read_only=True),
)


class StandInNode(Node):
    """Receives images and publishes prebuilt outputs of their size (see the module)."""

    def __init__(self, **kwargs):
        super().__init__('stand_in_node', **kwargs)
        values = declare_parameters(self, STAND_IN_PARAMETERS)
        self._work_s = values['work_ms'] / 1e3
        self._depth_result = values['result'] == 'depth'
        reliable = output_qos()
        self._timing = self.create_publisher(InferenceTiming, 'inference_timing', reliable)
        if self._depth_result:
            self._depth = self.create_publisher(Image, 'depth', reliable)
            self._points = self.create_publisher(PointCloud2, 'points', reliable)
            self.create_subscription(CameraInfo, 'camera_info', lambda msg: None,
                                     qos_profile_sensor_data)
        else:
            self._classification = self.create_publisher(Classification, 'classification',
                                                         reliable)
        self._packer = CloudPacker()
        self._depth_buffer = ImageBuffer('32FC1')
        self._size = None
        self._frames = 0
        self.create_subscription(Image, 'image', self._on_image, camera_qos())

    def _outputs_for(self, height, width):
        """Build the outputs of one image size once, as the real nodes reuse their buffers."""
        if self._size != (height, width):
            self._size = (height, width)
            self._depth_buffer.array(height, width)
            self._depth_msg = image_msg_from_fields(Header(), self._depth_buffer.frame())
            self._packer.xyz_buffer(height, width)
            self._cloud_msg = cloud_msg(self._packer.pack(), Header())
        return self._depth_msg, self._cloud_msg

    def _on_image(self, msg):
        received = time.perf_counter()
        if self._work_s:
            time.sleep(self._work_s)
        worked = time.perf_counter()
        if self._depth_result:
            depth, cloud = self._outputs_for(msg.height, msg.width)
            depth.header = cloud.header = msg.header
            self._depth.publish(depth)
            if self._points.get_subscription_count() > 0:
                self._points.publish(cloud)
        else:
            self._classification.publish(Classification(header=msg.header, class_ids=[0],
                                                        labels=['0'], scores=[1.0]))
        self._frames += 1
        timing = InferenceTiming(header=msg.header, model='stand-in', device='none',
                                 frames_received=self._frames, frames_processed=self._frames)
        timing.inference_ms = (worked - received) * 1e3
        timing.total_ms = (time.perf_counter() - received) * 1e3
        self._timing.publish(timing)


def main(args=None):
    """Run the stand-in node; the ``stand_in_node`` command."""
    apply_large_message_profile()
    rclpy.init(args=args)
    spin_until_shutdown(StandInNode())
    return 0
