"""ClassifierNode on a real rclpy graph: top-k, labels, softmax, thresholds, bad input."""

import numpy as np
import pytest
from sensor_msgs.msg import Image

from edge_perception.core.classification import ClassificationModelError, LabelsError
from edge_perception.core.heads import HeadMismatchError
from edge_perception.core.model_info import ModelInfo, write_model_info
from edge_perception.messages import image_msg
from edge_perception.msg import Classification, InferenceTiming
from edge_perception.nodes.classifier_node import ClassifierNode

from tiny_models import channel_mean_model, constant_depth_model, gray_two_class_model, write_model

WIDTH, HEIGHT = 32, 24


def softmax(values):
    exponentials = np.exp(np.asarray(values, np.float64) - np.max(values))
    return exponentials / exponentials.sum()


@pytest.fixture
def classifier(ros_graph, tmp_path):
    """Start a classifier on the channel-mean model; return (graph, feed, results, node)."""
    def start(channels=3, **parameters):
        model = write_model(channel_mean_model(channels, 8, 8), tmp_path, f'mean{channels}')
        parameters = {'model': str(model), 'mean': [0.0], 'scale': [100.0], **parameters}
        node = ros_graph.start(ClassifierNode, **parameters)
        publisher = ros_graph.publisher(Image, 'image')
        results = ros_graph.collect(Classification, 'classification')
        return node, publisher, results

    return ros_graph, start


def colour_frame(red, green, blue):
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:, :] = (red, green, blue)
    return frame


def test_top_k_order_labels_softmax_and_header(classifier, tmp_path):
    graph, start = classifier
    labels = tmp_path / 'labels.txt'
    labels.write_text('red\ngreen\nblue\n')
    node, publisher, results = start(labels=str(labels), top_k=2)
    timing = graph.collect(InferenceTiming, 'inference_timing')
    publisher.publish(image_msg(colour_frame(20, 90, 50), 'rgb8', stamp=7_000_000_123,
                                frame_id='cam'))
    assert graph.wait_for(lambda: results and timing)
    result = results[0]
    assert (result.header.stamp.sec, result.header.stamp.nanosec) == (7, 123)
    assert result.header.frame_id == 'cam' and result.model == 'mean3.xml'
    assert list(result.class_ids) == [1, 2] and list(result.labels) == ['green', 'blue']
    np.testing.assert_allclose(result.scores, softmax([0.2, 0.9, 0.5])[[1, 2]], rtol=1e-5)
    assert timing[0].header == result.header


def test_probabilities_pass_through_and_threshold_filters(classifier):
    graph, start = classifier
    _, publisher, results = start(output_is_logits=False, top_k=3, score_threshold=0.3)
    publisher.publish(image_msg(colour_frame(40, 10, 31), 'bgr8'))
    assert graph.wait_for(lambda: results)
    # bgr8 (40, 10, 31) is RGB (31, 10, 40): scores 0.40 (blue), 0.31 (red); green is cut.
    assert list(results[0].class_ids) == [2, 0]
    assert list(results[0].labels) == ['2', '0']
    np.testing.assert_allclose(results[0].scores, [0.40, 0.31], rtol=1e-5)


def test_gray_model_takes_mono8_and_colour_input(ros_graph, tmp_path):
    model = write_model(gray_two_class_model(8, 8), tmp_path, 'gray')
    ros_graph.start(ClassifierNode, model=str(model), mean=[0.0], scale=[100.0],
                    output_is_logits=False, top_k=1)
    publisher = ros_graph.publisher(Image, 'image')
    results = ros_graph.collect(Classification, 'classification')
    publisher.publish(image_msg(np.full((HEIGHT, WIDTH), 50, np.uint8), 'mono8'))
    assert ros_graph.wait_for(lambda: results)
    np.testing.assert_allclose(results[-1].scores, [0.5], rtol=1e-5)
    publisher.publish(image_msg(colour_frame(100, 100, 100), 'rgb8'))
    assert ros_graph.wait_for(lambda: len(results) == 2)
    np.testing.assert_allclose(results[-1].scores, [1.0], rtol=1e-4)


def test_colour_model_given_mono8_sees_gray_replicated_in_the_graph(classifier):
    graph, start = classifier
    _, publisher, results = start(output_is_logits=False, top_k=3)
    publisher.publish(image_msg(np.full((HEIGHT, WIDTH), 60, np.uint8), 'mono8'))
    assert graph.wait_for(lambda: results)
    assert list(results[0].class_ids) == [0, 1, 2]
    np.testing.assert_allclose(results[0].scores, [0.6, 0.6, 0.6], rtol=1e-5)


def test_bad_frames_are_dropped_and_the_node_keeps_serving(classifier):
    graph, start = classifier
    node, publisher, results = start()
    bad = image_msg(colour_frame(1, 2, 3), 'rgb8')
    bad.step = 5
    publisher.publish(bad)
    assert graph.wait_for(lambda: node.frames_rejected == 1)
    publisher.publish(image_msg(colour_frame(1, 2, 3), 'rgb8'))
    assert graph.wait_for(lambda: results)


def test_start_up_errors(classifier, ros_graph, tmp_path):
    _, start = classifier
    short_labels = tmp_path / 'short.txt'
    short_labels.write_text('only\ntwo\n')
    with pytest.raises(LabelsError, match='has 2 labels but the model outputs 3 classes'):
        start(labels=str(short_labels))
    with pytest.raises(LabelsError, match='does not exist'):
        start(labels=str(tmp_path / 'missing.txt'))
    depth_model = write_model(constant_depth_model(8, 8, 1.0), tmp_path, 'depth')
    with pytest.raises(ClassificationModelError, match='not a class vector'):
        ros_graph.start(ClassifierNode, model=str(depth_model))


def test_normalisation_and_labels_come_from_the_model_unless_given(classifier, tmp_path):
    graph, _ = classifier
    info = ModelInfo(model_type='Classification', mean=(10.0,), scale=(100.0,),
                     color_order='BGR', labels=('first', 'second', 'third'))
    model = write_model(write_model_info(channel_mean_model(3, 8, 8), info), tmp_path, 'said')
    node = graph.start(ClassifierNode, model=str(model), output_is_logits=False, top_k=3)
    publisher = graph.publisher(Image, 'image')
    results = graph.collect(Classification, 'classification')
    publisher.publish(image_msg(colour_frame(30, 60, 90), 'rgb8'))
    assert graph.wait_for(lambda: results)
    # BGR order, (x - 10) / 100: blue 0.8, green 0.5, red 0.2.
    assert list(results[0].labels) == ['first', 'second', 'third']
    np.testing.assert_allclose(results[0].scores, [0.8, 0.5, 0.2], rtol=1e-5)
    assert node.pipeline.normalisation.color_order == 'BGR'


def test_a_depth_model_is_refused_by_the_classifier_at_start(ros_graph, tmp_path):
    model = write_model(write_model_info(channel_mean_model(3, 8, 8),
                                         ModelInfo(model_type='depth_estimation')),
                        tmp_path, 'depth_said')
    with pytest.raises(HeadMismatchError, match="'depth_estimation' model"):
        ros_graph.start(ClassifierNode, model=str(model))
