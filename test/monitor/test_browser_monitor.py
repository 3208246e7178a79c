"""The monitor's page in a real browser (Debian's chromium-headless-shell), while frames flow:
the screenshot shows the pictures and the plot, not a blank page. Skipped without a browser.
"""

import os
import shutil
import subprocess
import time

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image

from edge_perception.messages import image_msg

from ros_helpers import monitor_address
from tiny_models import red_channel_depth_model, write_model

# Bound on failure only: a process imports its libraries, the first frame compiles the model.
START_TIMEOUT_S = 60.0
BROWSERS = ('chromium-headless-shell', 'chromium', 'google-chrome')
BROWSER = next((path for path in map(shutil.which, BROWSERS) if path), None)
# Milliseconds the browser lets the page run (streams and events never finish loading)
# before it stops loading and takes the screenshot: long enough for a few frames and events.
PAGE_RUN_MS = 4000


def screenshot(url, path):
    """Start the browser taking a screenshot of ``url`` into ``path``; return the process."""
    return subprocess.Popen(
        [BROWSER, '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
         '--window-size=1500,900', f'--timeout={PAGE_RUN_MS}', f'--screenshot={path}', url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# Under CI=true the test runs and fails without a browser (scripts/test.sh installs one).
@pytest.mark.skipif(BROWSER is None and os.environ.get('CI') != 'true',
                    reason='no headless browser (apt-get install chromium-headless-shell)')
def test_the_page_shows_frames_and_the_plot_in_a_browser(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(60, 80), tmp_path, 'red')
    graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0], depth_scale=0.01,
                        min_depth=0.0)
    monitor = graph.start_process('monitor_node', port=0, width=320, min_depth=0.0,
                                  max_depth=3.0)
    host, port = monitor_address(graph, monitor, START_TIMEOUT_S)
    publisher = graph.publisher(Image, 'image')
    depth = graph.collect(Image, 'depth')
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :160, 0] = 250
    image[:, 160:, 0] = 60
    graph.warm_up(lambda attempt: publisher.publish(image_msg(image, 'rgb8')),
                  lambda _: depth, timeout_s=START_TIMEOUT_S, retry_s=0.2)
    picture = tmp_path / 'monitor.png'
    browser = screenshot(f'http://{host}:{port}/', picture)
    deadline = time.perf_counter() + START_TIMEOUT_S
    while browser.poll() is None and time.perf_counter() < deadline:
        publisher.publish(image_msg(image, 'rgb8',
                                    stamp=graph.probe.get_clock().now().nanoseconds))
        graph.spin_for(1 / 30)
    if browser.poll() is None:
        browser.kill()
    output = browser.communicate()[0]
    assert browser.returncode == 0 and picture.exists(), output
    shot = cv2.imread(str(picture))
    assert shot is not None and shot.shape[:2] == (900, 1500)
    # Not blank: the camera's two reds, the depth colours and the plot give many colours.
    colours = np.unique(shot.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f'{len(colours)} colours: a blank page?'
    camera_red = np.all(np.abs(shot.astype(int) - (0, 0, 250)) < 30, axis=2)
    assert camera_red.sum() > 1000, 'the camera picture is not on the page'
