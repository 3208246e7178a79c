"""Scoring a node's recorded outputs against a recording's ground truth and golden outputs.

No rclpy: bags are read with ``rosbags`` and the package's type store
(:mod:`edge_perception.bags.types`). Outputs pair with input frames by header stamp (a node
copies the input header to its outputs; a timed replay's restamping is undone with the map it
writes into the recorded bag). Ground truth pairs with images by bag timestamp, as it is
recorded (a label per frame has no header).

* Depth against ground truth: δ1/δ2/δ3, AbsRel, RMSE, RMSE(log)
  (:func:`edge_perception.core.metrics.compute_depth_metrics`) per frame and pooled over every
  valid pixel of the bag, and a histogram of the relative error.
* Classification against labels: top-1 and top-k accuracy, a confusion matrix.
* Either against golden outputs: per-frame maximum and mean absolute difference (depth: the
  NaN pattern must match too; classification: class ids equal, score differences).
* Latency: the node's ``inference_timing`` per frame.

A :class:`Report` carries all of it, the failures against :class:`Thresholds`, and turns into
JSON or a printed table.
"""

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
import json
from pathlib import Path
import statistics

import numpy as np

from edge_perception.bags import reader
from edge_perception.bags.types import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_LABEL_TOPIC,
    package_typestore,
    STAMP_MAP_KEY,
)
from edge_perception.bags.writer import open_bag_writer
from edge_perception.core.depth_geometry import depth_in_metres
from edge_perception.core.image_codec import message_to_array
from edge_perception.core.metrics import compute_depth_metrics, valid_depth_mask
from edge_perception.messages import stamp_ns

DEFAULT_TOLERANCE = 1e-3
# Relative depth error histogram: (prediction - truth) / truth, clipped to this range.
HISTOGRAM_RANGE = (-1.0, 1.0)
HISTOGRAM_BINS = 80
_DEPTH_METRICS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'rmse', 'rmse_log')


class RegressionError(ValueError):
    """Bags that cannot be scored: unreadable, missing topics, mismatched shapes."""


@dataclass(frozen=True)
class Thresholds:
    """Limits a regression must stay within; None leaves a metric unchecked.

    :param min_delta1: lowest pooled δ1 against ground truth.
    :param max_abs_rel: highest pooled AbsRel.
    :param max_rmse: highest pooled RMSE, metres.
    :param min_top1: lowest top-1 accuracy, 0-1.
    :param min_topk: lowest top-k accuracy, 0-1.
    :param tolerance: highest absolute difference from the golden outputs (metres or score).
    """

    min_delta1: float | None = None
    max_abs_rel: float | None = None
    max_rmse: float | None = None
    min_top1: float | None = None
    min_topk: float | None = None
    tolerance: float = DEFAULT_TOLERANCE

    def ground_truth_limits(self):
        """Return the names of the ground-truth thresholds that are set."""
        return [name for name in ('min_delta1', 'max_abs_rel', 'max_rmse', 'min_top1',
                                  'min_topk') if getattr(self, name) is not None]


@dataclass
class Report:
    """Everything a regression found; ``as_dict`` is the JSON report.

    :param result: ``depth`` or ``classification``.
    :param frames: image frames in the input bag.
    :param missing: image stamps (ns) without an output.
    :param truth: scores against ground truth, or None.
    :param golden: differences from the golden outputs, or None.
    :param latency: the node's timing, or None.
    :param replay: how the outputs were produced (filled in by the caller).
    :param failures: one sentence per threshold crossed; empty when the regression passes.
    """

    result: str
    input_bag: str
    output_bag: str
    result_topic: str
    frames: int
    missing: list
    truth: dict | None = None
    golden: dict | None = None
    latency: dict | None = None
    golden_bag: str | None = None
    replay: dict | None = None
    failures: list = field(default_factory=list)

    def as_dict(self):
        """Return the report as plain data (for JSON)."""
        return asdict(self)

    def write_json(self, path):
        """Write the report as JSON; NaN (no valid pixel) becomes null."""
        Path(path).write_text(json.dumps(_json_safe(self.as_dict()), indent=2) + '\n')


def score(input_bag, output_bag, result, result_topic, timing_topic=None, truth_topic=None,
          golden_bag=None, thresholds=Thresholds(), image_topic=DEFAULT_IMAGE_TOPIC):
    """Score the recorded outputs of a replay.

    :param input_bag: the replayed bag (images, maybe ground truth).
    :param output_bag: the recording of the node's outputs.
    :param result: ``depth`` or ``classification``.
    :param result_topic: the output topic in ``output_bag`` (and ``golden_bag``).
    :param timing_topic: the ``InferenceTiming`` topic in ``output_bag``, or None.
    :param truth_topic: ground truth in ``input_bag`` (depth image or ``data`` label), or None
        for the default of ``result``; ground truth absent from the bag is not scored.
    :param golden_bag: golden outputs to compare with, or None.
    :param thresholds: :class:`Thresholds` to check.
    :param image_topic: image topic in ``input_bag``.
    :return: the :class:`Report`, failures filled in.
    :raises RegressionError: when a bag cannot be read or lacks the outputs, or a ground-truth
        threshold is set and the bag has no ground truth.
    """
    typestore = package_typestore()
    truth_topic = truth_topic or (DEFAULT_DEPTH_TOPIC if result == 'depth' else
                                  DEFAULT_LABEL_TOPIC)
    frames = read_input_frames(input_bag, image_topic, truth_topic, typestore)
    outputs = read_outputs(output_bag, result_topic, typestore)
    report = Report(result, str(input_bag), str(output_bag), result_topic, len(frames),
                    [stamp for stamp, _ in frames if stamp not in outputs],
                    golden_bag=None if golden_bag is None else str(golden_bag))
    truths = [(stamp, truth) for stamp, truth in frames if truth is not None]
    if truths:
        report.truth = {'topic': truth_topic, **(
            score_depth(truths, outputs) if result == 'depth' else
            score_classification(truths, outputs))}
    elif thresholds.ground_truth_limits():
        raise RegressionError(
            f"--{thresholds.ground_truth_limits()[0].replace('_', '-')} needs ground truth, "
            f"and '{input_bag}' has none on {truth_topic}")
    if golden_bag is not None:
        golden = read_outputs(golden_bag, result_topic, typestore)
        report.golden = compare_depth(outputs, golden) if result == 'depth' else \
            compare_classification(outputs, golden)
    if timing_topic is not None:
        report.latency = summarise_timing(read_outputs(output_bag, timing_topic, typestore,
                                                       required=False))
    report.failures = check(report, thresholds)
    return report


def read_input_frames(bag, image_topic, truth_topic, typestore):
    """Return ``[(image header stamp, truth message or None)]`` in recording order.

    Truth pairs with the image recorded at the same bag timestamp.
    """
    with _bag_errors():
        recorded = reader.read_frames(bag, (image_topic, truth_topic),
                                      decode=typestore.deserialize_cdr)
    frames = [(stamp_ns(frame.messages[image_topic]), frame.messages.get(truth_topic))
              for frame in recorded if image_topic in frame.messages]
    if not frames:
        raise RegressionError(f"no {image_topic} messages in '{bag}'")
    return frames


def read_outputs(bag, topic, typestore, required=True):
    """Return ``{input header stamp: message}`` of ``topic`` in a recording.

    Stamps are mapped back to the recorded ones where the replay restamped frames.

    :raises RegressionError: when ``required`` and the bag has no such topic.
    """
    with _bag_errors():
        stamp_map = json.loads(reader.custom_data(bag).get(STAMP_MAP_KEY, '{}'))
        topics = reader.topic_types(bag)
        if topic not in topics and required:
            raise RegressionError(f"'{bag}' has no {topic} topic (topics: "
                                  f"{', '.join(sorted(topics)) or 'none'})")
        outputs = {}
        for _, _, message in reader.read_messages(bag, (topic,),
                                                  decode=typestore.deserialize_cdr):
            stamp = stamp_ns(message)
            outputs.setdefault(stamp_map.get(str(stamp), stamp), message)
    return outputs


def score_depth(truths, outputs):
    """Depth metrics per frame and pooled over the valid pixels of every frame.

    :param truths: ``[(stamp, ground-truth Image)]``.
    :param outputs: ``{stamp: depth Image}``.
    """
    per_frame, predicted, true = [], [], []
    for stamp, truth_msg in truths:
        if stamp not in outputs:
            continue
        prediction = _depth(outputs[stamp])
        truth = depth_in_metres(message_to_array(truth_msg), truth_msg.encoding)
        if prediction.shape != truth.shape:
            raise RegressionError(f'frame {stamp}: depth {prediction.shape} and ground truth '
                                  f'{truth.shape} differ in size')
        per_frame.append({'stamp_ns': stamp,
                          **compute_depth_metrics(prediction, truth).as_dict()})
        mask = valid_depth_mask(truth, prediction)
        predicted.append(prediction[mask])
        true.append(truth[mask])
    if not per_frame:
        return {'frames': 0, 'pooled': None, 'per_frame': [], 'histogram': None}
    predicted, true = np.concatenate(predicted), np.concatenate(true)
    relative_error = (predicted.astype(np.float64) - true) / true
    counts, edges = np.histogram(np.clip(relative_error, *HISTOGRAM_RANGE), HISTOGRAM_BINS,
                                 HISTOGRAM_RANGE)
    return {
        'frames': len(per_frame),
        'pooled': compute_depth_metrics(predicted, true).as_dict(),
        'mean_over_frames': {name: _nanmean([frame[name] for frame in per_frame])
                             for name in _DEPTH_METRICS},
        'per_frame': per_frame,
        'histogram': {'quantity': 'relative depth error (prediction - truth) / truth, '
                                  'clipped to [-1, 1]',
                      'edges': edges.tolist(), 'counts': counts.tolist()},
    }


def score_classification(truths, outputs):
    """Top-1 and top-k accuracy and a confusion matrix (rows: true class, columns: predicted).

    :param truths: ``[(stamp, label message with a data field)]``.
    :param outputs: ``{stamp: Classification}``.
    """
    per_frame = []
    for stamp, label_msg in truths:
        if stamp not in outputs:
            continue
        result = outputs[stamp]
        class_ids = [int(class_id) for class_id in result.class_ids]
        label = int(label_msg.data)
        per_frame.append({'stamp_ns': stamp, 'label': label,
                          'predicted': class_ids[0] if class_ids else None,
                          'score': float(result.scores[0]) if class_ids else None,
                          'top1': bool(class_ids) and class_ids[0] == label,
                          'topk': label in class_ids})
    k = max((len(outputs[frame['stamp_ns']].class_ids) for frame in per_frame), default=0)
    classes = sorted({frame['label'] for frame in per_frame} |
                     {frame['predicted'] for frame in per_frame
                      if frame['predicted'] is not None})
    size = classes[-1] + 1 if classes else 0
    matrix = np.zeros((size, size), dtype=int)
    for frame in per_frame:
        if frame['predicted'] is not None:
            matrix[frame['label'], frame['predicted']] += 1
    count = len(per_frame)
    return {
        'frames': count,
        'top1': sum(frame['top1'] for frame in per_frame) / count if count else None,
        'topk': sum(frame['topk'] for frame in per_frame) / count if count else None,
        'k': k,
        'no_result': sum(frame['predicted'] is None for frame in per_frame),
        'confusion': {'classes': list(range(size)), 'matrix': matrix.tolist()},
        'per_frame': per_frame,
    }


def compare_depth(outputs, golden):
    """Per-frame differences of depth images from golden ones.

    NaN (invalid) pixels must be NaN in both; values are compared where both are finite.
    """
    per_frame = []
    differences = []
    for stamp in sorted(set(outputs) & set(golden)):
        depth, reference = _depth(outputs[stamp]), _depth(golden[stamp])
        if depth.shape != reference.shape:
            per_frame.append({'stamp_ns': stamp, 'shape_differs': True,
                              'nan_mismatch_pixels': int(depth.size),
                              'max_abs_diff': None, 'mean_abs_diff': None})
            continue
        finite, reference_finite = np.isfinite(depth), np.isfinite(reference)
        both = finite & reference_finite
        difference = np.abs(depth[both].astype(np.float64) - reference[both])
        differences.append(difference)
        per_frame.append({
            'stamp_ns': stamp, 'shape_differs': False,
            'nan_mismatch_pixels': int(np.count_nonzero(finite != reference_finite)),
            'max_abs_diff': float(difference.max()) if difference.size else 0.0,
            'mean_abs_diff': float(difference.mean()) if difference.size else 0.0})
    pooled = np.concatenate(differences) if differences else np.zeros(0)
    return {
        **_frame_sets(outputs, golden),
        'nan_mismatch_pixels': sum(frame['nan_mismatch_pixels'] for frame in per_frame),
        'shape_differs': sum(frame['shape_differs'] for frame in per_frame),
        'max_abs_diff': float(pooled.max()) if pooled.size else 0.0,
        'mean_abs_diff': float(pooled.mean()) if pooled.size else 0.0,
        'per_frame': per_frame,
    }


def compare_classification(outputs, golden):
    """Per-frame differences of classification results from golden ones.

    Class ids must be equal, in order; scores are compared position by position.
    """
    per_frame = []
    for stamp in sorted(set(outputs) & set(golden)):
        ids, reference_ids = list(outputs[stamp].class_ids), list(golden[stamp].class_ids)
        same_ids = ids == reference_ids
        difference = np.abs(np.asarray(outputs[stamp].scores, np.float64) -
                            np.asarray(golden[stamp].scores, np.float64)) if same_ids else None
        per_frame.append({
            'stamp_ns': stamp, 'class_ids_equal': same_ids,
            'max_abs_diff': float(difference.max()) if same_ids and difference.size else
            (0.0 if same_ids else None),
            'mean_abs_diff': float(difference.mean()) if same_ids and difference.size else
            (0.0 if same_ids else None)})
    compared = [frame for frame in per_frame if frame['class_ids_equal']]
    return {
        **_frame_sets(outputs, golden),
        'class_mismatches': len(per_frame) - len(compared),
        'max_abs_diff': max((frame['max_abs_diff'] for frame in compared), default=0.0),
        'mean_abs_diff': _nanmean([frame['mean_abs_diff'] for frame in compared]),
        'per_frame': per_frame,
    }


def summarise_timing(timings):
    """Median, 90th percentile and maximum of the node's per-frame times.

    :param timings: ``{stamp: InferenceTiming}``.
    """
    if not timings:
        return None
    per_frame = [{'stamp_ns': stamp, 'inference_ms': float(msg.inference_ms),
                  'total_ms': float(msg.total_ms), 'preprocess_ms': float(msg.preprocess_ms),
                  'postprocess_ms': float(msg.postprocess_ms)}
                 for stamp, msg in sorted(timings.items())]
    summary = {name: {'median': statistics.median(values),
                      'p90': float(np.percentile(values, 90)), 'max': max(values)}
               for name in ('inference_ms', 'total_ms')
               for values in [[frame[name] for frame in per_frame]]}
    last = timings[max(timings)]
    return {**summary, 'device': last.device, 'model': last.model,
            'preprocessing': last.preprocessing, 'per_frame': per_frame}


def check(report, thresholds):
    """Return one sentence for each limit the report crosses."""
    failures = []
    if report.missing:
        failures.append(f'{len(report.missing)} of {report.frames} frames have no '
                        f'{report.result_topic} output')
    truth = report.truth or {}
    pooled = truth.get('pooled') or {}
    limits = [('delta1', pooled.get('delta1'), thresholds.min_delta1, 'min-delta1', min),
              ('abs_rel', pooled.get('abs_rel'), thresholds.max_abs_rel, 'max-abs-rel', max),
              ('rmse', pooled.get('rmse'), thresholds.max_rmse, 'max-rmse', max),
              ('top-1 accuracy', truth.get('top1'), thresholds.min_top1, 'min-top1', min),
              (f"top-{truth.get('k')} accuracy", truth.get('topk'), thresholds.min_topk,
               'min-topk', min)]
    for name, value, limit, option, kind in limits:
        if limit is None:
            continue
        if value is None or np.isnan(value):
            failures.append(f'{name}: nothing scored (--{option} {limit:g})')
        elif (value < limit) if kind is min else (value > limit):
            relation = 'below' if kind is min else 'above'
            failures.append(f'{name} {value:.4f} is {relation} --{option} {limit:g}')
    golden = report.golden
    if golden is not None:
        if golden['missing']:
            failures.append(f"{len(golden['missing'])} golden frames have no output")
        if golden['extra']:
            failures.append(f"{len(golden['extra'])} outputs have no golden frame")
        if golden.get('shape_differs'):
            failures.append(f"{golden['shape_differs']} depth images differ in size from the "
                            'golden ones')
        if golden.get('nan_mismatch_pixels'):
            failures.append(f"{golden['nan_mismatch_pixels']} pixels are NaN in only one of "
                            'output and golden depth')
        if golden.get('class_mismatches'):
            failures.append(f"{golden['class_mismatches']} frames' class ids differ from the "
                            'golden ones')
        if golden['max_abs_diff'] > thresholds.tolerance:
            failures.append(f"max abs difference from golden {golden['max_abs_diff']:.3g} is "
                            f'above --tolerance {thresholds.tolerance:g}')
    return failures


def format_report(report):
    """Return the report as a printable table."""
    rows = [('frames', f'{report.frames} ({len(report.missing)} without output)')]
    truth = report.truth
    if truth and report.result == 'depth' and truth['pooled']:
        rows.append(('vs ground truth', f"{truth['frames']} frames, {truth['topic']}"))
        rows += [(f'  {name} (pooled)', f"{truth['pooled'][name]:.4f}") for name in _DEPTH_METRICS]
        per_frame = [frame['delta1'] for frame in truth['per_frame']]
        rows.append(('  delta1 per frame', f'min {np.nanmin(per_frame):.4f}, '
                                           f'max {np.nanmax(per_frame):.4f}'))
    elif truth and report.result == 'classification' and truth['frames']:
        rows.append(('vs ground truth', f"{truth['frames']} frames, {truth['topic']}"))
        rows.append(('  top-1 accuracy', f"{truth['top1']:.4f}"))
        rows.append((f"  top-{truth['k']} accuracy", f"{truth['topk']:.4f}"))
        confusion = np.asarray(truth['confusion']['matrix'])
        wrong = [(true, predicted, int(confusion[true, predicted]))
                 for true, predicted in zip(*np.nonzero(confusion), strict=True)
                 if true != predicted]
        rows.append(('  confusions', ', '.join(f'{true}->{predicted} x{count}'
                                               for true, predicted, count in wrong) or 'none'))
    golden = report.golden
    if golden is not None:
        rows.append(('vs golden', f"{golden['compared']} frames compared, "
                                  f"{len(golden['missing'])} missing, "
                                  f"{len(golden['extra'])} extra"))
        rows.append(('  max abs difference', f"{golden['max_abs_diff']:.3g}"))
        rows.append(('  mean abs difference', f"{golden['mean_abs_diff']:.3g}"))
        if report.result == 'depth':
            rows.append(('  NaN pattern mismatches', f"{golden['nan_mismatch_pixels']} pixels"))
        else:
            rows.append(('  class id mismatches', f"{golden['class_mismatches']} frames"))
    latency = report.latency
    if latency is not None:
        for name in ('inference_ms', 'total_ms'):
            rows.append((f'{name} (node)', f"median {latency[name]['median']:.1f}, "
                                           f"p90 {latency[name]['p90']:.1f}, "
                                           f"max {latency[name]['max']:.1f}"))
    width = max(len(name) for name, _ in rows)
    lines = [f'{name:<{width}}  {value}' for name, value in rows]
    lines.append('PASS' if not report.failures else
                 'FAIL: ' + '; '.join(report.failures))
    return '\n'.join(lines)


def write_golden(output_bag, golden_path, topics):
    """Copy ``topics`` of a recording into a new golden bag (MCAP, zstd chunks).

    :raises RegressionError: when the recording lacks one of the topics.
    """
    with _bag_errors(), reader.open_bag(output_bag) as bag:
        connections = [connection for connection in bag.connections
                       if connection.topic in topics]
        lacking = set(topics) - {connection.topic for connection in connections}
        if lacking:
            raise RegressionError(f"'{output_bag}' has no {', '.join(sorted(lacking))}")
        with open_bag_writer(Path(golden_path), 'mcap', compress=True) as writer:
            copies = {connection.id: writer.add_connection(
                connection.topic, connection.msgtype, msgdef=connection.msgdef.data,
                rihs01=connection.digest) for connection in connections}
            for connection, timestamp, raw in bag.messages(connections=connections):
                writer.write(copies[connection.id], timestamp, raw)


def _frame_sets(outputs, golden):
    return {'compared': len(set(outputs) & set(golden)),
            'missing': sorted(set(golden) - set(outputs)),
            'extra': sorted(set(outputs) - set(golden))}


@contextmanager
def _bag_errors():
    """Report a bag that cannot be read as a :class:`RegressionError`."""
    try:
        yield
    except reader.BagError as error:
        raise RegressionError(str(error)) from error


def _depth(message):
    return depth_in_metres(message_to_array(message), message.encoding)


def _nanmean(values):
    values = [value for value in values if value is not None and not np.isnan(value)]
    return statistics.fmean(values) if values else float('nan')


def _json_safe(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value
