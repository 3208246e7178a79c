"""Export of the project's PyTorch models to OpenVINO IR with FP16 weights."""

from pathlib import Path

import openvino as ov
import torch


def export_ir(module: torch.nn.Module, input_shape, xml_path: Path, input_name: str,
              output_name: str, title: str) -> ov.Model:
    """Convert ``module`` to OpenVINO, name its tensors and save it with FP16 weights.

    :param module: the trained network (put in eval mode here).
    :param input_shape: IR input shape; -1 marks a dynamic dimension (e.g. the batch).
    :param xml_path: destination ``.xml``; the ``.bin`` goes beside it.
    :param input_name: name given to the IR's input tensor.
    :param output_name: name given to the IR's output tensor.
    :param title: model title stored in the IR's runtime information.
    :returns: the converted (FP32) model, before compression.
    """
    module = module.eval().to(memory_format=torch.contiguous_format)
    example = [1 if size < 0 else size for size in input_shape]
    converted = ov.convert_model(module, example_input=torch.zeros(*example),
                                 input=[(ov.PartialShape(list(input_shape)), ov.Type.f32)])
    converted.inputs[0].get_tensor().set_names({input_name})
    converted.outputs[0].get_tensor().set_names({output_name})
    converted.set_rt_info(title, ['model_info', 'title'])
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(converted, xml_path, compress_to_fp16=True)
    return converted
