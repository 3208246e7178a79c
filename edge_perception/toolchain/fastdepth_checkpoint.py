"""The FastDepth authors' NYU checkpoints (github dwofk/fast-depth), read without running them.

Their ``.pth.tar`` files (legacy or zip ``torch.save`` format) hold a dict whose 'model' is a
whole pickled module (``models.MobileNetSkipAdd``, or ``models.MobileNet`` with an ``NNConv``
decoder, possibly inside ``DataParallel``) beside 'args', 'epoch', 'best_result' and
'optimizer'. Unpickling that the ordinary way imports the authors' code and lets the file call
anything it names. Here the file is parsed by :mod:`~edge_perception.toolchain.torch_file`
(never ``torch.load``), whose pickle machine knows only tensors, storages and inert
placeholders, one for each class such a checkpoint names (torch.nn layers, the authors'
``models`` and ``imagenet.mobilenet`` classes, ``argparse.Namespace``, ``metrics.Result``,
optimizers), which only keep the attributes the pickle gives them. Any other global
(``os.system``, ``builtins.eval``, …), a call of anything else, or a BUILD on anything but a
placeholder stops the reading with :class:`CheckpointRefused` before it happens. The weights
and the layer tree are read from the placeholders, the network is rebuilt as a real torch
module (:mod:`edge_perception.networks.authors_fastdepth`), checked layer by layer against the
pickled tree, and loaded with ``strict=True``. No rclpy here.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from edge_perception.core.model_info import DEPTH_ESTIMATION, ModelInfo
from edge_perception.toolchain.model_sources import ConversionError, import_torch, TorchSource
from edge_perception.toolchain.torch_file import (
    Allowlist,
    PickledObject,
    placeholder_classes,
    read_torch_file,
    StoredTensor,
    TorchFileError,
    TorchFileRefused,
)

CHECKPOINT_SUFFIXES = ('.pth.tar',)

#: What the authors' networks take and give: RGB in [0, 1] (0-255 / 255), depth in metres.
AUTHORS_MODEL_INFO = ModelInfo(model_type=DEPTH_ESTIMATION, mean=(0.0,), scale=(255.0,),
                               color_order='RGB', output_unit='metres')
#: The authors' input: 224×224, from a 228×304 centre crop of NYU's 480×640 frames at 250/480.
INPUT_SHAPE = (1, 3, 224, 224)

_TORCH_CLASSES = (
    'torch.nn.modules.conv.Conv2d', 'torch.nn.modules.conv.ConvTranspose2d',
    'torch.nn.modules.batchnorm.BatchNorm2d', 'torch.nn.modules.activation.ReLU',
    'torch.nn.modules.activation.ReLU6', 'torch.nn.modules.container.Sequential',
    'torch.nn.modules.container.ModuleList', 'torch.nn.modules.pooling.AvgPool2d',
    'torch.nn.modules.pooling.MaxPool2d', 'torch.nn.modules.linear.Linear',
    'torch.nn.modules.dropout.Dropout', 'torch.nn.parallel.data_parallel.DataParallel',
    'torch.optim.sgd.SGD', 'torch.optim.adam.Adam',
)
_AUTHORS_CLASSES = tuple(f'models.{name}' for name in (
    'Identity', 'Unpool', 'upproj', 'Decoder', 'DeConv', 'UpConv', 'UpProj', 'NNConv', 'BLConv',
    'ShuffleConv', 'ResNet', 'MobileNet', 'ResNetSkipAdd', 'ResNetSkipConcat',
    'MobileNetSkipAdd', 'MobileNetSkipConcat')) + ('imagenet.mobilenet.MobileNet',)
_BOOKKEEPING_CLASSES = ('argparse.Namespace', 'metrics.Result', 'metrics.AverageMeter',
                        'numpy.dtype', 'numpy.core.multiarray.scalar',
                        'numpy._core.multiarray.scalar')
# Callables old checkpoints reduce: torch <= 1.0 pickled every module's THNN backend through
# this getter; optimizers keep their state in a defaultdict(dict). Both come back empty.
_INERT_CALLABLES = ('torch.nn.backends.thnn._get_thnn_function_backend',
                    'collections.defaultdict', 'builtins.dict')

_DATA_PARALLEL = 'torch.nn.parallel.data_parallel.DataParallel'
_NNCONV_DECODER = 'models.NNConv'


class CheckpointRefused(ConversionError):
    """The checkpoint's pickle names something besides tensors and the allowed classes."""


def _empty_mapping(*args, **kwargs):
    return {}


_ALLOWLIST = Allowlist(
    classes=placeholder_classes(_TORCH_CLASSES + _AUTHORS_CLASSES + _BOOKKEEPING_CLASSES),
    callables=dict.fromkeys(_INERT_CALLABLES, _empty_mapping))
@dataclass(frozen=True)
class AuthorsCheckpoint:
    """What a checkpoint holds, read without running it.

    :param layout: :data:`~edge_perception.networks.authors_fastdepth.SKIP_ADD` or
        :data:`~edge_perception.networks.authors_fastdepth.ENCODER_DECODER`.
    :param state_dict: weights, ``module.`` prefixes removed.
    :param modules: module path -> placeholder of the pickled layer tree ({} for a state_dict).
    :param encoder_activation: 'ReLU6' or 'ReLU', as the pickled encoder has it.
    :param details: epoch and validation figures the checkpoint states, as text.
    """

    layout: str
    state_dict: dict
    modules: dict
    encoder_activation: str
    details: str


def is_checkpoint_path(path):
    """Whether ``path`` is named like the authors' checkpoints (``.pth.tar``)."""
    return str(path).lower().endswith(CHECKPOINT_SUFFIXES)


def read_checkpoint(path):
    """Read the authors' checkpoint at ``path`` without running any of its pickled code.

    Also takes a ``state_dict`` (under 'model' or 'state_dict', or the whole file) with the
    authors' layer names.

    :return: an :class:`AuthorsCheckpoint`.
    :raises CheckpointRefused: when the pickle names anything besides tensors, storages and the
        classes a FastDepth checkpoint holds; nothing it names is called.
    :raises ConversionError: when the file is unreadable or holds no FastDepth network.
    """
    from edge_perception.networks.authors_fastdepth import layout_of, LayoutError
    contents = _unpickle(path)
    model = contents.get('model', contents.get('state_dict', contents)) if isinstance(
        contents, Mapping) else contents
    if isinstance(model, PickledObject):
        layout, state_dict, modules = _from_module_tree(path, model)
    elif isinstance(model, Mapping) and model and all(
            isinstance(name, str) and _is_tensor(value) for name, value in model.items()):
        state_dict = {_without_data_parallel(name): _as_torch(tensor)
                      for name, tensor in model.items()}
        modules = {}
        try:
            layout = layout_of(state_dict)
        except LayoutError as error:
            raise ConversionError(f"'{path}' holds a state_dict that is not one of the FastDepth "
                                  f"authors' networks: {error}; for another network name the "
                                  'code that builds it with --torch-module '
                                  'package.module:factory') from None
    else:
        raise ConversionError(
            f"'{path}' holds no FastDepth network (no whole model or state_dict under 'model'); "
            'for a state_dict of another network name the code that builds it with '
            '--torch-module package.module:factory')
    activation = 'ReLU6'
    encoder_first = modules.get('conv0.2' if 'conv0.2' in modules else 'mobilenet.0.2')
    if encoder_first is not None:
        activation = type(encoder_first).__name__
    return AuthorsCheckpoint(layout, state_dict, modules, activation,
                             _details(contents) if isinstance(contents, Mapping) else '')


def rebuild(checkpoint, path=''):
    """Build the network ``checkpoint`` describes and load its weights with ``strict=True``.

    :return: the torch module, in eval mode.
    :raises ConversionError: when the weights or the pickled layers do not fit the rebuild.
    """
    from edge_perception.networks.authors_fastdepth import (
        AuthorsFastDepth,
        ENCODER_ACTIVATIONS,
        LayoutError,
    )
    if checkpoint.encoder_activation not in ENCODER_ACTIVATIONS:
        raise ConversionError(f"'{path}': the encoder's activation is "
                              f'{checkpoint.encoder_activation}, not one of '
                              f"{', '.join(ENCODER_ACTIVATIONS)}")
    try:
        network = AuthorsFastDepth(checkpoint.layout,
                                   {name: tuple(tensor.shape)
                                    for name, tensor in checkpoint.state_dict.items()},
                                   checkpoint.encoder_activation)
    except LayoutError as error:
        raise ConversionError(f"'{path}' is not a FastDepth network this can rebuild: {error}"
                              ) from None
    if checkpoint.modules:
        _check_layers(path, checkpoint.modules, network)
    try:
        network.load_state_dict(checkpoint.state_dict, strict=True)
    except RuntimeError as error:
        raise ConversionError(f"the weights in '{path}' do not fit the rebuilt network: {error}"
                              ) from None
    return network.eval()


def variant_name(network):
    """Return the authors' name for ``network``: mobilenet-nnconv5[dw][-skipadd][-pruned]."""
    from edge_perception.networks.authors_fastdepth import FULL_WIDTHS, SKIP_ADD
    return ('mobilenet-nnconv5' + ('dw' if network.depthwise_decoder else '')
            + ('-skipadd' if network.layout == SKIP_ADD else '')
            + ('' if network.widths() == FULL_WIDTHS else '-pruned'))


class AuthorsCheckpointSource(TorchSource):
    """The authors' checkpoint as a converter source: the rebuilt network, traced at 224×224.

    The IR's input is named ``image`` and its output ``depth``, as the bundled model's; the
    IR states :data:`AUTHORS_MODEL_INFO`.
    """

    framework = 'PyTorch'
    default_input_shapes = (INPUT_SHAPE,)
    tensor_names = ('image', 'depth')

    def __init__(self, path):
        self.path = path
        self.torch = import_torch(path, 'a PyTorch checkpoint')
        checkpoint = read_checkpoint(path)
        self.module = rebuild(checkpoint, path)
        variant = variant_name(self.module)
        self.description = ', '.join(part for part in (
            f"the FastDepth authors' {variant} ({checkpoint.layout}, "
            f'{sum(tensor.numel() for tensor in self.module.parameters()):,} parameters)',
            checkpoint.details) if part)
        self.model_info = ModelInfo(**{**vars(AUTHORS_MODEL_INFO),
                                       'title': f'FastDepth {variant} (Wofk et al.)'})


def _unpickle(path):
    try:
        return read_torch_file(path, _ALLOWLIST)
    except TorchFileRefused as refused:
        if refused.what == 'TorchScript':
            raise CheckpointRefused(f"refusing '{path}': it is {refused}") from None
        raise CheckpointRefused(
            f"refusing '{path}': {refused}, which is neither a tensor, a storage nor one of the "
            'layer and bookkeeping classes a FastDepth checkpoint holds. Nothing in the file was '
            'run') from None
    except TorchFileError as error:
        raise ConversionError(f"cannot read '{path}' as a PyTorch checkpoint: {error}; for a "
                              'state_dict of another network name the code that builds it with '
                              '--torch-module package.module:factory') from None


def _is_tensor(value):
    return isinstance(value, StoredTensor)


def _as_torch(stored):
    import torch
    return torch.from_numpy(stored.numpy())


def _without_data_parallel(name):
    return name.removeprefix('module.')


def _from_module_tree(path, root):
    from edge_perception.networks.authors_fastdepth import ENCODER_DECODER, SKIP_ADD
    if root.qualified_name == _DATA_PARALLEL:
        root = _mapping(root.__dict__.get('_modules')).get('module')
        if not isinstance(root, PickledObject):
            raise ConversionError(f"'{path}': its DataParallel wraps no module")
    modules, state_dict = {}, {}
    _walk(path, root, '', modules, state_dict)
    layouts = {'models.MobileNetSkipAdd': SKIP_ADD, 'models.MobileNet': ENCODER_DECODER}
    layout = layouts.get(root.qualified_name)
    if layout is None:
        raise ConversionError(
            f"'{path}' holds a {root.qualified_name or type(root).__name__}; this reads the "
            "authors' MobileNet FastDepth networks: models.MobileNetSkipAdd, and models.MobileNet "
            'with an NNConv decoder (mobilenet-nnconv5, mobilenet-nnconv5dw)')
    decoder = modules.get('decoder')
    if layout == ENCODER_DECODER and (decoder is None
                                      or decoder.qualified_name != _NNCONV_DECODER):
        found = decoder.qualified_name if decoder is not None else 'none'
        raise ConversionError(f"'{path}': models.MobileNet's decoder is {found}; this reads the "
                              'NNConv decoders (nnconv5, nnconv5dw)')
    return layout, state_dict, modules


# Deeper than any network's layer tree; a pickle can nest (or loop) placeholders at will.
_MAX_LAYER_DEPTH = 32


def _walk(path, module, prefix, modules, state_dict):
    if not isinstance(module, PickledObject):
        raise ConversionError(f"'{path}': layer '{prefix.rstrip('.') or 'model'}' is a "
                              f'{type(module).__name__}, not a module')
    if prefix.count('.') > _MAX_LAYER_DEPTH or any(seen is module for seen in modules.values()):
        raise ConversionError(f"'{path}': its layer tree nests deeper than "
                              f'{_MAX_LAYER_DEPTH} or contains itself at {prefix.rstrip(".")}')
    modules[prefix.rstrip('.')] = module
    attributes = module.__dict__
    skipped = attributes.get('_non_persistent_buffers_set')
    skipped = skipped if isinstance(skipped, (set, frozenset)) else set()
    for group in ('_parameters', '_buffers'):
        for name, tensor in _mapping(attributes.get(group)).items():
            if tensor is None or name in skipped:
                continue
            if not _is_tensor(tensor):
                raise ConversionError(f"'{path}': '{prefix}{name}' is not a tensor")
            state_dict[prefix + name] = _as_torch(tensor)
    for name, child in _mapping(attributes.get('_modules')).items():
        if child is not None:
            _walk(path, child, f'{prefix}{name}.', modules, state_dict)


# The geometry of a layer, as nn.Conv2d keeps it; compared between the pickle and the rebuild.
_CONV_ATTRIBUTES = ('in_channels', 'out_channels', 'kernel_size', 'stride', 'padding',
                    'dilation', 'groups')


def _check_layers(path, modules, network):
    """Refuse unless every pickled layer is in the rebuild, of the same kind and geometry."""
    rebuilt = dict(network.named_modules())
    for name, placeholder in modules.items():
        if not name or placeholder.__dict__.get('_modules'):
            continue  # containers: their forward is what the rebuild reproduces
        kind = placeholder.qualified_name.rpartition('.')[2]
        layer = rebuilt.get(name)
        if layer is None or type(layer).__name__ != kind:
            found = type(layer).__name__ if layer is not None else 'nothing'
            raise ConversionError(f"'{path}': layer '{name}' is a {kind} in the checkpoint but "
                                  f'{found} in the rebuilt network')
        for attribute in _CONV_ATTRIBUTES if kind == 'Conv2d' else ():
            pickled = placeholder.__dict__.get(attribute)
            if pickled is not None and _as_tuple(pickled) != _as_tuple(getattr(layer, attribute)):
                raise ConversionError(f"'{path}': layer '{name}' has {attribute} {pickled} in "
                                      f'the checkpoint but {getattr(layer, attribute)} in the '
                                      'rebuilt network')
    pickled_leaves = {name for name, placeholder in modules.items()
                      if name and not placeholder.__dict__.get('_modules')}
    missing = [name for name, layer in rebuilt.items()
               if name and not list(layer.children()) and name not in pickled_leaves]
    if missing:
        raise ConversionError(f"'{path}': the checkpoint has no layers {missing[:4]} that the "
                              'rebuilt network has')


def _mapping(value):
    """``value`` when the pickle made it a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _details(contents):
    parts = []
    if isinstance(contents.get('epoch'), int):
        parts.append(f"epoch {contents['epoch']}")
    result = contents.get('best_result')
    figures = result.__dict__ if isinstance(result, PickledObject) else {}
    for key, label in (('rmse', 'RMSE {:.3f} m'), ('delta1', 'δ1 {:.3f}')):
        if isinstance(figures.get(key), float):
            parts.append(label.format(figures[key]))
    return ', '.join(parts)
