"""Run IRs on the OpenVINO of the interpreter running this script, for a cross-release check.

``python run_irs.py CASES.npz OUTPUTS.npz``: ``CASES.npz`` holds, for each case ``NAME``, the
IR's path as ``NAME/xml`` and its input as ``NAME/input``; ``OUTPUTS.npz`` gets each case's
outputs as ``NAME/0``, ``NAME/1``, ... and the OpenVINO version as ``openvino``. The IRs are read
and compiled by the package's engine (CPU, f32 inference), as the nodes and tools read them.
Needs only the package's core, numpy and OpenVINO (any release from 2022.3).
"""

import sys

import numpy as np

from edge_perception.core.engine import compile_model, create_core, load_model
from edge_perception.core.openvino_compat import openvino_version


def main(cases_path, outputs_path):
    core = create_core()
    outputs = {'openvino': np.array(openvino_version())}
    with np.load(cases_path) as cases:
        names = sorted({key.split('/')[0] for key in cases.files})
        for name in names:
            model = load_model(core, str(cases[f'{name}/xml']))
            compiled = compile_model(core, model, 'CPU', inference_precision='f32')
            results = compiled.create_infer_request().infer({0: cases[f'{name}/input']})
            for index, port in enumerate(compiled.outputs):
                outputs[f'{name}/{index}'] = np.asarray(results[port])
    np.savez(outputs_path, **outputs)


if __name__ == '__main__':
    main(*sys.argv[1:])
