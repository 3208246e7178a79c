"""``classifier_node``: camera image in; top-k class results and timing out.

Subscribed: ``image`` (sensor_msgs/Image). Published: ``classification``
(edge_perception/Classification, the input image's header), ``inference_timing``.
"""

from edge_perception.core.classification import append_softmax, class_count, load_labels, top_k
from edge_perception.msg import Classification
from edge_perception.nodes.inference_node import InferenceNode, run_node
from edge_perception.nodes.parameters import ParameterSpec
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'digits', 'digit_classifier.xml')
BUNDLED_LABELS = ('models', 'digits', 'labels.txt')
# The bundled digit classifier takes gray values scaled to [-1, 1].
DIGITS_MEAN = (127.5,)
DIGITS_SCALE = (127.5,)

CLASSIFIER_PARAMETERS = (
    ParameterSpec('labels', '',
                  'Labels file, one label per line (line i names class i); empty: the bundled '
                  'labels with the bundled model, class indices otherwise.', read_only=True),
    ParameterSpec('top_k', 5, 'Results per frame, best first.', value_range=(1, 1000)),
    ParameterSpec('score_threshold', 0.0,
                  'Lowest probability reported; results below it are left out.',
                  value_range=(0.0, 1.0)),
    ParameterSpec('output_is_logits', True,
                  'The model outputs logits: apply a softmax in the graph. False when it '
                  'already outputs probabilities.', read_only=True),
)


class ClassifierNode(InferenceNode):
    """Image classification (the bundled digit classifier by default) through OpenVINO."""

    def __init__(self, **kwargs):
        super().__init__('classifier_node', CLASSIFIER_PARAMETERS, shared_file(*BUNDLED_MODEL),
                         DIGITS_MEAN, DIGITS_SCALE, **kwargs)

    def output_postprocessing(self):
        return append_softmax if self.parameter_values['output_is_logits'] else None

    def create_outputs(self):
        classes = class_count(self.pipeline.output_shapes)
        values = self.parameter_values
        labels_path = values['labels']
        if not labels_path and not values['model']:
            labels_path = str(shared_file(*BUNDLED_LABELS))
        self.labels = load_labels(labels_path, classes)
        self.classification_publisher = self.create_output_publisher(Classification,
                                                                     'classification')

    def publish_outputs(self, image_msg, outputs):
        best = top_k(outputs[0], self.parameter_values['top_k'],
                     self.parameter_values['score_threshold'])
        msg = Classification()
        msg.header = image_msg.header
        msg.class_ids = best.class_ids.tolist()
        msg.labels = [self.labels[index] for index in msg.class_ids]
        msg.scores = best.scores.tolist()
        msg.model = self.model_name
        self.classification_publisher.publish(msg)


def main(args=None):
    """Run the classifier node; the ``classifier_node`` command."""
    return run_node(ClassifierNode, args)
