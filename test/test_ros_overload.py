"""Overload: a depth node in its own process fed at 60 Hz with a model that manages ~20 Hz.

Newest frame wins: stale frames are dropped and counted, latency stays bounded, memory stays
flat. Figures for longer soaks and the bundled model: docs/reliability.md.
"""

import json
import subprocess

import pytest

from edge_perception.node_config import load_node_config
from edge_perception.node_process import installed_command
from edge_perception.package_paths import shared_file
from edge_perception.soak import soak, SoakOptions
from tiny_models import red_channel_depth_model, slow_depth_model, write_model

RATE_HZ = 60.0
DURATION_S = 8.0


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('overload')
    model = write_model(slow_depth_model(), tmp_path, 'slow')
    config = load_node_config(shared_file('config', 'depth.yaml'), [
        f'model={model}', 'mean=[0.0]', 'scale=[1.0]', 'depth_scale=0.01', 'min_depth=0.0',
        'inference_precision=f32'])
    options = SoakOptions(config, RATE_HZ, DURATION_S, 640, 480, str(tmp_path))
    result = soak(options)
    print(result.summary(options))
    return result


def test_latency_stays_bounded_and_stale_frames_are_dropped_and_counted(report):
    counts = report.node_counts()
    inference_ms = sorted(report.inference_ms)[len(report.inference_ms) // 2]
    period_ms = 1e3 / RATE_HZ
    assert inference_ms > 2 * period_ms, 'the model is not slow enough to overload the node'
    assert report.results >= 0.5 * DURATION_S * 1e3 / inference_ms / 2
    assert counts['frames_dropped'] > 0.3 * report.sent, counts
    # Sent frames are all accounted for: processed, dropped (newest won), or replaced in the
    # DDS queue before the node took them; none pile up.
    assert counts['frames_processed'] + counts['frames_dropped'] + \
        report.lost_before_the_node() >= report.sent - 5
    # One frame in inference, one waiting: latency is a couple of inference times, however
    # long the soak, never a queue's worth.
    bound_ms = 3 * inference_ms + 100
    assert report.latency_percentile(99) < bound_ms, report.figures()
    assert report.latency_percentile(99, DURATION_S / 2) < bound_ms, report.figures()


def test_memory_stays_flat_and_the_node_exits_cleanly(report):
    assert len(report.memory) >= DURATION_S - 1
    assert report.memory_growth_mib() < 20.0, report.memory
    assert report.exit_code == 0, report.node_output[-2000:]
    assert 'Traceback' not in report.node_output


def test_the_soak_command_writes_figures_and_fails_past_its_limits(tmp_path):
    model = write_model(red_channel_depth_model(12, 16), tmp_path, 'red')
    figures = tmp_path / 'soak.json'
    result = subprocess.run(
        [str(installed_command('edge-perception')), 'soak', '--config',
         str(shared_file('config', 'depth.yaml')), '--param', f'model={model}',
         '--rate', '30', '--duration', '2', '--width', '64', '--height', '48',
         '--max-p99-latency-ms', '0.001', '--max-memory-growth-mib', '1000',
         '--json', str(figures)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert 'FAILED: p99 latency' in result.stderr and 'memory growth' not in result.stderr
    report = json.loads(figures.read_text())
    assert report['results'] > 10 and report['sent'] >= report['results']
    assert 'soaked 2 s at 30 Hz (64x48)' in result.stdout
