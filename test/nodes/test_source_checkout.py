"""The package imports in full from the repository root, where the source tree comes first on
``sys.path`` and lacks the generated messages.
"""

from pathlib import Path
import subprocess
import sys

REPO = Path(__file__).resolve().parents[2]


def test_generated_messages_import_from_the_repository_root():
    result = subprocess.run(
        [sys.executable, '-c', 'import edge_perception, edge_perception.msg as msg; '
                               'print(edge_perception.__file__); print(msg.InferenceTiming())'],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    source_init, _ = result.stdout.splitlines()
    assert Path(source_init) == REPO / 'edge_perception' / '__init__.py'  # the shadowing case
