"""Write checkpoints shaped like the FastDepth authors' NYU releases, and what they compute.

Run as ``python make_checkpoints.py OUTPUT_DIR`` from this directory's copy, where ``models``,
``imagenet`` and ``metrics`` import. Each checkpoint pickles a whole module, as the authors'
``main.py`` saves it ('args', 'epoch', 'model', 'best_result', 'optimizer'); beside each,
``<name>.npy`` holds the module's own depth for ``image.npy`` (RGB, u8, 224x224) / 255. The
'evil-*' checkpoints carry code that would create ``<name>.ran`` when unpickled;
'altered-stride' has a layer whose stride differs from the authors'.
"""

import argparse
import io
import math
import os
from pathlib import Path
import sys
import zipfile

import metrics
import numpy as np
import torch
from torch import nn

import models

PRUNED_ENCODER = (24, 48, 96, 96, 200, 200, 400, 384, 384, 400, 384, 400, 800, 816)
PRUNED_DECODER = (448, 200, 96, 48, 24)


class CodeCarrier:
    """Unpickling this calls ``function(*arguments)``."""

    def __init__(self, function, *arguments):
        self.reduced = (function, arguments)

    def __reduce__(self):
        return self.reduced


def randomise(model, seed):
    """Weights as the authors initialise them, batch norm statistics that are not identities."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            module.weight.data.normal_(0, math.sqrt(2.0 / fan), generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            count = module.num_features
            module.weight.data = 0.8 + 0.4 * torch.rand(count, generator=generator)
            module.bias.data = 0.2 * torch.rand(count, generator=generator) - 0.1
            module.running_mean = 0.2 * torch.rand(count, generator=generator) - 0.1
            module.running_var = 0.5 + torch.rand(count, generator=generator)
    return model.eval()


def calibrate(model, batch):
    """Set the last batch norm so the depth of ``batch`` is 2 m +- 1 m, as a trained network's
    spreads, instead of a constant or all zeros after the last ReLU.
    """
    last_conv = [module for module in model.modules() if isinstance(module, nn.Conv2d)][-1]
    last = [module for module in model.modules() if isinstance(module, nn.BatchNorm2d)][-1]
    outputs = []
    handle = last_conv.register_forward_hook(lambda module, inputs, output: outputs.append(output))
    with torch.no_grad():
        model(batch)
    handle.remove()
    last.running_mean.fill_(float(outputs[0].mean()))
    last.running_var.fill_(float(outputs[0].var()))
    last.weight.data.fill_(1.0)
    last.bias.data.fill_(2.0)


def checkpoint(model, decoder):
    """What the authors' ``main.py`` saves, after one optimiser step (which moves the weights)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model(torch.rand(1, 3, 224, 224)).mean().backward()
    optimizer.step()  # momentum buffers: the optimizer's state is a defaultdict of tensors
    model.zero_grad(set_to_none=True)
    model.eval()
    return {'args': argparse.Namespace(arch='mobilenet', decoder=decoder, data='nyudepthv2',
                                       modality='rgb', lr=0.01, epochs=20),
            'epoch': 19, 'arch': 'mobilenet', 'model': model,
            'best_result': metrics.Result(), 'optimizer': optimizer}


def save(contents, path, legacy):
    torch.save(contents, path, _use_new_zipfile_serialization=not legacy)


def on_gpu(path):
    """Rewrite the storages of a checkpoint to say they were saved from CUDA."""
    locations = (b'X\x03\x00\x00\x00cpu', b'X\x06\x00\x00\x00cuda:0')
    storage_class = (b'ctorch\nFloatStorage\n', b'ctorch.cuda\nFloatStorage\n')
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            entries = [(info, archive.read(info)) for info in archive.infolist()]
        rewritten = io.BytesIO()
        with zipfile.ZipFile(rewritten, 'w', zipfile.ZIP_STORED) as archive:
            for info, content in entries:
                if info.filename.endswith('data.pkl'):
                    assert locations[0] in content
                    content = content.replace(*locations)
                archive.writestr(info, content)
        data = rewritten.getvalue()
    else:
        assert locations[0] in data and storage_class[0] in data
        data = data.replace(*locations).replace(*storage_class)
    path.write_bytes(data)


def as_from_torch_0_4(model):
    """Give every module the ``_backend`` attribute torch <= 1.0 pickled with it: a call of
    ``torch.nn.backends.thnn._get_thnn_function_backend()``, which torch no longer has (the
    pickle is written with a stand-in function and renamed in :func:`rename_backend_getter`).
    """
    for module in model.modules():
        module._backend = CodeCarrier(os.getcwd)
    return model


def rename_backend_getter(path):
    data = path.read_bytes()
    assert b'cposix\ngetcwd\n' in data
    path.write_bytes(data.replace(b'cposix\ngetcwd\n',
                                  b'ctorch.nn.backends.thnn\n_get_thnn_function_backend\n'))


def main():
    output = Path(sys.argv[1])
    output.mkdir(parents=True, exist_ok=True)
    rows, columns = np.mgrid[0:224, 0:224]
    image = np.stack([rows, columns, (rows + columns) // 2], axis=-1).astype(np.uint8)
    image = (image + np.random.default_rng(0).integers(0, 32, image.shape)).astype(np.uint8)
    np.save(output / 'image.npy', image)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255

    skip_add = {'output_size': (224, 224), 'pretrained': False}
    networks = {
        'nnconv5': (lambda: models.MobileNet('nnconv5', (224, 224), pretrained=False), True),
        'nnconv5dw': (lambda: models.MobileNet('nnconv5dw', (224, 224), pretrained=False),
                      False),
        'skipadd-dataparallel': (lambda: nn.DataParallel(models.MobileNetSkipAdd(**skip_add)),
                                 True),
        'pruned-cuda': (lambda: models.MobileNetSkipAdd(**skip_add, widths=PRUNED_ENCODER,
                                                        decoder_widths=PRUNED_DECODER), True),
        'skipadd-zip-cuda': (lambda: models.MobileNetSkipAdd(**skip_add), False),
    }
    for seed, (name, (build, legacy)) in enumerate(networks.items()):
        model = randomise(build(), seed)
        contents = checkpoint(model, 'nnconv5dw')
        calibrate(model, batch)
        with torch.no_grad():
            np.save(output / f'{name}.npy', model(batch).numpy())
        path = output / f'{name}.pth.tar'
        if name == 'skipadd-dataparallel':
            as_from_torch_0_4(model)
        save(contents, path, legacy)
        if name.endswith('cuda'):
            on_gpu(path)
        if name == 'skipadd-dataparallel':
            rename_backend_getter(path)

    state_dict = nn.DataParallel(randomise(models.MobileNet('nnconv5dw', (224, 224),
                                                            pretrained=False), 7))
    calibrate(state_dict, batch)
    with torch.no_grad():
        np.save(output / 'state-dict.npy', state_dict(batch).numpy())
    save({'state_dict': state_dict.state_dict(), 'epoch': 3}, output / 'state-dict.pth.tar',
         False)

    # Weights of the right shapes, but a layer the rebuild would compute differently.
    altered = models.MobileNetSkipAdd(**skip_add)
    altered.conv2[0].stride = (1, 1)
    save({'model': altered}, output / 'altered-stride.pth.tar', True)

    evil = models.MobileNetSkipAdd(**skip_add)
    evil.conv0.note = CodeCarrier(os.system, f"touch '{output / 'evil-in-model.ran'}'")
    save(checkpoint(evil, 'nnconv5dw'), output / 'evil-in-model.pth.tar', True)
    marker = output / 'evil-beside-model.ran'
    save({**checkpoint(models.MobileNetSkipAdd(**skip_add), 'nnconv5dw'),
          'best_result': CodeCarrier(exec, f"open({str(marker)!r}, 'w').close()")},
         output / 'evil-beside-model.pth.tar', False)


if __name__ == '__main__':
    main()
