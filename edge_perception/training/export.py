"""Export of the project's PyTorch models to OpenVINO IR with FP16 weights."""

from pathlib import Path

import openvino as ov
import torch

from edge_perception.core.model_info import ModelInfo, write_model_info
from edge_perception.core.opset_lowering import lower_for_runtime


def export_ir(module: torch.nn.Module, input_shape, xml_path: Path, input_name: str,
              output_name: str, model_info: ModelInfo) -> ov.Model:
    """Convert ``module`` to OpenVINO, name its tensors and save it with FP16 weights, in
    operations OpenVINO 2022.3 LTS (the NCS2's runtime) reads.

    :param module: the trained network (put in eval mode here).
    :param input_shape: IR input shape; -1 marks a dynamic dimension (e.g. the batch).
    :param xml_path: destination ``.xml``; the ``.bin`` goes beside it.
    :param input_name: name given to the IR's input tensor.
    :param output_name: name given to the IR's output tensor.
    :param model_info: what the IR says about itself (normalisation, colour order, labels,
        output; :mod:`edge_perception.core.model_info`): how the nodes and tools feed it.
    :returns: the converted (FP32) model, before compression.
    :raises ValueError: when an operation has no equivalent OpenVINO 2022.3 reads.
    """
    module = module.eval().to(memory_format=torch.contiguous_format)
    example = [1 if size < 0 else size for size in input_shape]
    converted = ov.convert_model(module, example_input=torch.zeros(*example),
                                 input=[(ov.PartialShape(list(input_shape)), ov.Type.f32)])
    converted.inputs[0].get_tensor().set_names({input_name})
    converted.outputs[0].get_tensor().set_names({output_name})
    write_model_info(converted, model_info)
    left = lower_for_runtime(converted)
    if left:
        raise ValueError(f"OpenVINO 2022.3 could not read the IR: {'; '.join(left)}")
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(converted, xml_path, compress_to_fp16=True)
    return converted
