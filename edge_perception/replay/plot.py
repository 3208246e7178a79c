"""A regression report as one PNG: error distribution, a per-frame metric, latency over time.

matplotlib is imported only here, and only when a plot is asked for; it draws with the Agg
backend directly (no pyplot, no display, no global backend switch).
"""

import numpy as np


def write_plot(report, path):
    """Draw three panels of a :class:`~edge_perception.replay.scoring.Report` into a PNG.

    :param report: the regression report.
    :param path: PNG file to write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 4.5), layout='constrained')
    FigureCanvasAgg(figure)
    errors, per_frame, latency = figure.subplots(1, 3)
    _draw_errors(errors, report)
    _draw_per_frame(per_frame, report)
    _draw_latency(latency, report)
    figure.suptitle(f'{report.result} regression on {report.input_bag}: '
                    + ('PASS' if not report.failures else 'FAIL'))
    figure.savefig(path, dpi=100)


def _draw_errors(axes, report):
    truth, golden = report.truth or {}, report.golden
    if report.result == 'depth' and truth.get('histogram'):
        histogram = truth['histogram']
        edges = np.asarray(histogram['edges'])
        axes.bar(edges[:-1], histogram['counts'], width=np.diff(edges), align='edge')
        axes.set_xlabel('(prediction - truth) / truth')
        axes.set_ylabel('pixels')
        axes.set_title('relative depth error')
    elif report.result == 'classification' and truth.get('frames'):
        matrix = np.asarray(truth['confusion']['matrix'])
        axes.imshow(matrix, cmap='Blues')
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                axes.text(column, row, str(count), ha='center', va='center',
                          color='white' if count > matrix.max() / 2 else 'black')
        axes.set_xlabel('predicted class')
        axes.set_ylabel('true class')
        axes.set_title('confusion matrix')
    elif golden is not None:
        values = [frame['max_abs_diff'] for frame in golden['per_frame']
                  if frame['max_abs_diff'] is not None]
        axes.hist(values, bins=20)
        axes.set_xlabel('max abs difference from golden, per frame')
        axes.set_ylabel('frames')
        axes.set_title('difference from golden outputs')
    else:
        axes.text(0.5, 0.5, 'no ground truth, no golden outputs', ha='center', va='center')
        axes.set_axis_off()


def _draw_per_frame(axes, report):
    truth, golden = report.truth or {}, report.golden
    frames = truth.get('per_frame') or []
    if report.result == 'depth' and frames:
        for name in ('delta1', 'abs_rel'):
            axes.plot([frame[name] for frame in frames], marker='o', label=name)
        axes.set_ylabel('metric')
        axes.set_title('depth metrics per frame')
        axes.legend()
    elif report.result == 'classification' and frames:
        scores = [frame['score'] if frame['score'] is not None else 0.0 for frame in frames]
        colours = ['tab:green' if frame['top1'] else 'tab:red' for frame in frames]
        axes.scatter(range(len(frames)), scores, c=colours)
        axes.set_ylim(0.0, 1.05)
        axes.set_ylabel('top-1 score (green: correct, red: wrong)')
        axes.set_title('classification per frame')
    elif golden is not None:
        axes.plot([frame['max_abs_diff'] for frame in golden['per_frame']], marker='o')
        axes.set_ylabel('max abs difference from golden')
        axes.set_title('difference per frame')
    else:
        axes.set_axis_off()
        return
    axes.set_xlabel('frame')


def _draw_latency(axes, report):
    if report.latency is None:
        axes.text(0.5, 0.5, 'no inference_timing recorded', ha='center', va='center')
        axes.set_axis_off()
        return
    frames = report.latency['per_frame']
    for name in ('inference_ms', 'total_ms'):
        axes.plot([frame[name] for frame in frames], label=name)
    axes.set_xlabel('frame')
    axes.set_ylabel('ms')
    axes.set_ylim(bottom=0.0)
    axes.set_title(f"node latency ({report.latency['device']})")
    axes.legend()
