#!/usr/bin/env python3
"""What watching the monitor costs the depth node: its latency with and without viewers.

A depth_node process (the bundled FastDepth unless --model) gets 640x480 rgb8 frames at 30 Hz
from this process, which measures each frame's round trip (image published -> depth received)
and reads the node's own ``total_ms`` (image callback -> outputs published) from
``inference_timing``. Three conditions: no monitor; a monitor_node process nobody watches;
the same monitor with two clients, each watching the page's two MJPEG streams and its events
(``curl`` processes, so reading costs nothing in this process). The three conditions
alternate for --rounds rounds so a drift in the machine's load hits all of them. Prints the medians.
Run with .venv/bin/python.
"""

import argparse
import re
import shutil
import statistics
import subprocess
import time

import numpy as np

RATE_HZ = 30.0
CONDITIONS = ('no monitor', 'monitor, unwatched', 'monitor, 2 clients')


def play(graph, images, returned, timings, frames):
    """Publish ``frames`` images at RATE_HZ; return (round trips ms, node total_ms)."""
    from edge_perception.messages import header_msg, image_msg

    image = image_msg(np.full((480, 640, 3), 120, np.uint8), 'rgb8')
    returned.clear()
    timings.clear()
    sent = {}
    started = time.perf_counter()
    first = int(time.time() * 1e9)
    for index in range(frames):
        stamp = first + index
        image.header = header_msg(stamp)
        sent[stamp] = time.perf_counter()
        images.publish(image)
        graph.spin_for(started + (index + 1) / RATE_HZ - time.perf_counter())
    graph.wait_for(lambda: len(returned) >= len(sent), 2.0)
    round_trips = [(arrival.time_s - sent[stamp]) * 1e3 for stamp, arrival in returned.items()
                   if stamp in sent]
    totals = [arrival.message.total_ms for stamp, arrival in timings.items() if stamp in sent]
    return round_trips, totals, len(sent)


def watch(url, clients):
    """Start ``clients`` x (image stream, depth stream, events) curl readers; return them."""
    paths = ('stream/image.mjpg', 'stream/depth.mjpg', 'api/events')
    return [subprocess.Popen(['curl', '-sN', '-o', '/dev/null', url + path])
            for _ in range(clients) for path in paths]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='', help='model file; default: bundled FastDepth')
    parser.add_argument('--frames', type=int, default=300, help='frames per condition and round')
    parser.add_argument('--rounds', type=int, default=2)
    args = parser.parse_args()
    if shutil.which('curl') is None:
        parser.error('curl is needed for the clients')

    from sensor_msgs.msg import Image

    from edge_perception.messages import image_msg
    from edge_perception.msg import InferenceTiming
    from edge_perception.replay.graph import ProbeGraph

    results = {condition: ([], [], [0, 0]) for condition in CONDITIONS}

    def measure(condition):
        round_trips, totals, sent = play(graph, images, returned, timings, args.frames)
        results[condition][0].extend(round_trips)
        results[condition][1].extend(totals)
        results[condition][2][0] += len(round_trips)
        results[condition][2][1] += sent

    with ProbeGraph('monitor_cost_probe') as graph:
        parameters = {'publish_points': False}
        if args.model:
            parameters['model'] = args.model
        graph.start_process('depth_node', **parameters)
        images = graph.publisher(Image, 'image')
        returned = graph.collect_by_stamp(Image, 'depth')
        timings = graph.collect_by_stamp(InferenceTiming, 'inference_timing')
        warm_up_image = np.zeros((480, 640, 3), np.uint8)

        def publish_warm_up(attempt):
            images.publish(image_msg(warm_up_image, 'rgb8', stamp=attempt + 1))
            return attempt + 1

        # The first frame compiles the model for 640x480.
        graph.warm_up(publish_warm_up, lambda stamp: stamp in returned, 60.0, retry_s=0.2)
        for _ in range(args.rounds):
            measure('no monitor')
            monitor = graph.start_process('monitor_node', port=0)
            assert graph.wait_for(
                lambda process=monitor: 'serving the monitor page on' in process.output,
                30.0), monitor.output
            url = re.search(r'(http://\S+/)', monitor.output).group(1)
            measure('monitor, unwatched')
            readers = watch(url, 2)
            try:
                measure('monitor, 2 clients')
            finally:
                for reader in readers:
                    reader.terminate()
                    reader.wait()
            monitor.stop()
            graph.processes.remove(monitor)
    print(f'depth_node, 640x480 rgb8 at {RATE_HZ:g} Hz, {args.frames} frames x {args.rounds} '
          'rounds per condition; medians in ms')
    print(f"{'condition':<22} {'round trip':>10} {'node total':>10} {'received':>12}")
    for condition, (round_trips, totals, (received, sent)) in results.items():
        print(f'{condition:<22} {statistics.median(round_trips):>10.2f} '
              f'{statistics.median(totals):>10.2f} {f"{received}/{sent}":>12}')


if __name__ == '__main__':
    main()
