"""The README's demo: bundled FastDepth on the bundled recording, node in its own process."""

import re
import subprocess

from edge_perception.node_process import installed_command


def test_demo_reports_rate_latency_accuracy_and_writes_pngs(tmp_path):
    result = subprocess.run(
        [str(installed_command('edge-perception')), 'demo', '--loops', '1',
         '--output-dir', str(tmp_path / 'pngs'), '--pngs', '2'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'latency \(image published -> depth received\): median \d', result.stdout)
    assert re.search(r'output rate \d', result.stdout)
    delta1 = float(re.search(r'delta1 ([0-9.]+)', result.stdout).group(1))
    assert delta1 > 0.5, result.stdout
    pngs = sorted((tmp_path / 'pngs').glob('*.png'))
    assert [png.name for png in pngs] == ['depth_00.png', 'depth_01.png']
