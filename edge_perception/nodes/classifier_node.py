"""``classifier_node``: camera image in; top-k class results and timing out.

Subscribed: ``image`` (sensor_msgs/Image; or ``<image>/compressed``, sensor_msgs/CompressedImage,
with ``image_transport: compressed``). Published: ``classification``
(edge_perception/Classification, the input image's header), ``inference_timing``. A managed
(lifecycle) node: see :mod:`edge_perception.nodes.inference_node`.
"""

from edge_perception.core.heads import ClassifierHead
from edge_perception.msg import Classification
from edge_perception.nodes.inference_node import InferenceNode, run_node
from edge_perception.nodes.parameter_tables import CLASSIFIER_PARAMETERS
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'digits', 'digit_classifier.xml')


class ClassifierNode(InferenceNode):
    """Image classification (the bundled digit classifier by default) through OpenVINO."""

    def __init__(self, **kwargs):
        super().__init__('classifier_node', CLASSIFIER_PARAMETERS, shared_file(*BUNDLED_MODEL),
                         **kwargs)

    def output_postprocessing(self):
        return ClassifierHead.output_postprocessing(self.parameter_values['output_is_logits'])

    def configure_head(self):
        info = self.pipeline.model_info
        classes = ClassifierHead.check_model(self.pipeline.output_shapes, info)
        values = self.parameter_values
        self._head = ClassifierHead(ClassifierHead.labels_for(info, classes, values['labels']),
                                    values['top_k'], values['score_threshold'])

    def create_outputs(self):
        self.classification_publisher = self.create_output_publisher(Classification,
                                                                     'classification')

    def apply_parameter_change(self, changes):
        values = self.parameter_values
        self._head = ClassifierHead(self._head.labels, values['top_k'], values['score_threshold'])

    @property
    def labels(self):
        """The class names in use (class ``i`` at index ``i``)."""
        return self._head.labels

    def publish_outputs(self, header, outputs, result):
        best = self._head.classify(outputs)
        msg = Classification()
        msg.header = header
        msg.class_ids = best.class_ids.tolist()
        msg.labels = best.labels
        msg.scores = best.scores.tolist()
        msg.model = self.model_name
        self.classification_publisher.publish(msg)


def main(args=None):
    """Run the classifier node; the ``classifier_node`` command."""
    return run_node(ClassifierNode, args)
