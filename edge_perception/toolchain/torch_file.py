"""Files written by ``torch.save``, parsed without ``torch.load`` and without running them.

A ``.pt``/``.pth``/``.pth.tar`` file from outside is a pickle: loaded the ordinary way it can
call anything it names, and even torch's restricted loaders leave gaps (a zip holding
``constants.pkl`` is handed to ``torch.jit.load``; a legacy file's persistent ids reach torch's
source check, which writes ``.patch`` files; a pickle BUILD can set attributes on the functions
torch allows). This module reads the two formats itself:

- **zip** (torch >= 1.6): ``<archive>/data.pkl`` and one record ``<archive>/data/<key>`` per
  storage. A TorchScript archive (``constants.pkl`` or ``code/``) is refused: it holds code.
- **legacy** (torch 0.4 - 1.5, and ``_use_new_zipfile_serialization=False``): a magic number,
  the protocol version, the writer's system information, the pickled object, the list of
  storage keys, then each storage as its element count and its bytes.

The pickles run on :class:`_RestrictedUnpickler`, Python's own pickle machine with its globals,
calls and BUILD limited: a global is whatever the caller's allowlist maps its name to (the
reader's own placeholder classes and inert functions, never the real ones), a call may only
call those, and BUILD may only set state on instances of the reader's own classes. Tensors come
back as :class:`StoredTensor` records; their bytes are read only after every size and stride
was checked against the bytes actually in the file. Nothing here imports torch or rclpy.
"""

import _compat_pickle
from dataclasses import dataclass
import io
import mmap
import os
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np

#: ``torch.save``'s legacy format starts with this number, then this protocol version.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
#: A checkpoint's pickle (without its tensors' bytes) is small; a larger one is not read.
MAX_PICKLE_BYTES = 256 * 1024 * 1024

_STORAGE_DTYPES = {
    'DoubleStorage': '<f8', 'FloatStorage': '<f4', 'HalfStorage': '<f2',
    'BFloat16Storage': 'bfloat16', 'LongStorage': '<i8', 'IntStorage': '<i4',
    'ShortStorage': '<i2', 'CharStorage': 'i1', 'ByteStorage': 'u1', 'BoolStorage': '?',
    'UntypedStorage': 'u1',
}
_STORAGE_MODULES = ('torch', 'torch.cuda', 'torch.storage')


class TorchFileError(ValueError):
    """The file is not a ``torch.save`` file this can read, or it is malformed."""


class TorchFileRefused(TorchFileError):
    """The file asks for something a checkpoint never needs: a global, a call or a BUILD."""

    def __init__(self, message, what=''):
        super().__init__(message)
        #: What the file asked for, e.g. 'posix.system'.
        self.what = what


class TorchScriptArchive(TorchFileRefused):
    """The file is a TorchScript archive (``torch.jit.save``): it holds code."""


class PickledObject:
    """Stands in for a class a file names: keeps the attributes its pickle gives, runs nothing.

    Subclasses made by :func:`placeholder_classes` carry the name they stand for in
    ``qualified_name``; the reader's BUILD only ever sets state on their instances.
    """

    qualified_name = ''

    def __init__(self, *args, **kwargs):
        """Take and drop what a pickle passes to the class it names."""


class PickledDict(dict):
    """``collections.OrderedDict`` as a file rebuilds it (a state_dict keeps ``_metadata``)."""

    def __init__(self, *args, **kwargs):
        # OrderedDict's pickle passes its items later (SETITEMS); an argument is a list of pairs.
        super().__init__()
        if args and isinstance(args[0], list):
            for pair in args[0]:
                if isinstance(pair, (list, tuple)) and len(pair) == 2:
                    self[pair[0]] = pair[1]


def placeholder_classes(qualified_names):
    """Return ``{name: class}``: a :class:`PickledObject` subclass for each dotted name."""
    return {name: type(name.rpartition('.')[2], (PickledObject,),
                       {'qualified_name': name, '__module__': __name__})
            for name in qualified_names}


@dataclass(frozen=True)
class StoredTensor:
    """A tensor in the file: a strided view of one storage, checked to lie inside it."""

    storage: '_Storage'
    offset: int
    shape: tuple
    stride: tuple

    @property
    def dtype(self):
        """Numpy's dtype string, or 'bfloat16'."""
        return self.storage.dtype

    def numpy(self):
        """Return the values as a new contiguous numpy array (bfloat16 as float32)."""
        flat = self.storage.array()
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.shape,
            strides=tuple(step * itemsize for step in self.stride), writeable=False)
        values = np.array(view, copy=True)
        if self.dtype == 'bfloat16':
            values = (values.astype(np.uint32) << 16).view(np.float32)
        return values


class _Storage:
    """One storage of the file: its element type, its count, and (once read) its bytes."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data = None

    @property
    def itemsize(self):
        return 2 if self.dtype == 'bfloat16' else np.dtype(self.dtype).itemsize

    def array(self):
        if self.data is None:
            raise TorchFileError(f'storage {self.key!r} has no bytes in the file')
        dtype = '<u2' if self.dtype == 'bfloat16' else self.dtype
        return np.frombuffer(self.data, dtype=dtype, count=self.numel)


@dataclass(frozen=True)
class Allowlist:
    """What a file's pickle may name: classes (placeholders) and inert callables, by name."""

    classes: dict
    callables: dict

    def lookup(self, qualified_name):
        found = self.classes.get(qualified_name, self.callables.get(qualified_name))
        if found is None:
            found = _TENSOR_GLOBALS.get(qualified_name)
        return found


def read_torch_file(path, allowlist):
    """Read a ``torch.save`` file at ``path`` without running anything it holds.

    :param allowlist: the placeholder classes and inert callables its pickle may name, besides
        tensors and storages.
    :return: the pickled object: dicts, lists, tuples, plain values, placeholders (instances
        of ``allowlist.classes``) and :class:`StoredTensor` records.
    :raises TorchScriptArchive: for a TorchScript archive.
    :raises TorchFileRefused: when the pickle names a global outside ``allowlist``, calls
        something else, or sets state on anything but the reader's own objects.
    :raises TorchFileError: when the file is not a readable ``torch.save`` file.
    """
    path = os.fspath(path)
    try:
        with open(path, 'rb') as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                raise TorchFileError('the file is empty')
            if _is_zip(file):
                return _read_zip(file, size, allowlist)
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    return _read_legacy(view, allowlist)
                finally:
                    view.release()  # the mapping cannot close while a view of it is open
    except OSError as error:
        raise TorchFileError(f'cannot read it: {error.strerror or error}') from None


def _is_zip(file):
    try:
        return zipfile.is_zipfile(file)
    except zipfile.BadZipFile as error:  # an end record it finds but cannot accept
        raise TorchFileError(f'a broken zip archive ({error})') from None


def _read_zip(file, file_size, allowlist):
    try:
        with zipfile.ZipFile(file) as archive:
            return _read_archive(archive, file_size, allowlist)
    except TorchFileError:
        raise
    # zipfile's ways of finding a broken, encrypted or unusual archive, file names included.
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            EOFError, zlib.error, ValueError, struct.error, OverflowError) as error:
        raise TorchFileError(f'a broken zip archive ({type(error).__name__}: '
                             f'{str(error)[:200]})') from None


def _read_archive(archive, file_size, allowlist):
    entries = {info.filename: info for info in archive.infolist()}
    pickles = [name for name in entries if name.endswith('/data.pkl')
               and name.count('/') == 1]
    prefix = pickles[0][:-len('data.pkl')] if len(pickles) == 1 else None
    if prefix is not None and (f'{prefix}constants.pkl' in entries or any(
            name.startswith(f'{prefix}code/') for name in entries)):
        raise TorchScriptArchive(
            'a TorchScript archive (torch.jit.save), which holds code; this reads '
            'weights only: give a state_dict saved with torch.save(model.state_dict(), '
            'path) and --torch-module, or export the model to ONNX', 'TorchScript')
    if prefix is None:
        raise TorchFileError('a zip archive without exactly one <archive>/data.pkl: not '
                             'a torch.save file')
    byte_order = 'little'
    if f'{prefix}byteorder' in entries:
        byte_order = _read_entry(archive, entries[f'{prefix}byteorder'], 16).decode(
            'ascii', 'replace')
        if byte_order not in ('little', 'big'):
            raise TorchFileError(f'an unknown byte order {byte_order!r}')
    data_pickle = _read_entry(archive, entries[f'{prefix}data.pkl'], MAX_PICKLE_BYTES)
    storages = {}

    def storage_of(key, dtype, numel):
        name = f'{prefix}data/{key}'
        info = entries.get(name)
        if info is None:
            raise TorchFileError(f'storage {key!r} has no record {name}')
        stored = storages.get(key)
        if stored is None:
            stored = storages[key] = _Storage(key, dtype, numel)
            nbytes = numel * stored.itemsize
            # torch stores records raw; a compressed one could inflate far beyond the file.
            if info.compress_type != zipfile.ZIP_STORED:
                raise TorchFileError(f'storage {key!r} is compressed in the archive (torch '
                                     'writes storages uncompressed); not inflated')
            if info.file_size != nbytes or info.compress_size != nbytes or nbytes > file_size:
                raise TorchFileError(
                    f'storage {key!r} claims {numel:,} elements ({nbytes:,} bytes) but '
                    f'its record holds {info.compress_size:,} bytes')
            stored.data = _ordered(_read_entry(archive, info, nbytes), stored, byte_order)
        elif (stored.dtype, stored.numel) != (dtype, numel):
            raise TorchFileError(f'storage {key!r} is named with two types or sizes')
        return stored

    return _RestrictedUnpickler(io.BytesIO(data_pickle), allowlist, file_size,
                                zip_storage=storage_of).load()


def _read_entry(archive, info, limit):
    with archive.open(info) as entry:
        data = entry.read(limit + 1)
    if len(data) > limit:
        raise TorchFileError(f'{info.filename} is larger than {limit:,} bytes')
    return data


def _ordered(data, storage, byte_order):
    if byte_order == sys.byteorder or storage.itemsize == 1 or storage.dtype == '?':
        return data
    swapped = np.frombuffer(data, dtype=np.dtype(f'u{storage.itemsize}')).byteswap()
    return swapped.tobytes()


def _read_legacy(view, allowlist):
    reader = _BoundedReader(view)
    storages, views = {}, {}

    def unpickle():
        return _RestrictedUnpickler(reader, allowlist, len(view),
                                    legacy_storage=legacy_storage).load()

    def legacy_storage(dtype, root_key, numel, view_metadata):
        stored = storages.get(root_key)
        if stored is None:
            stored = storages[root_key] = _Storage(root_key, dtype, numel)
            if numel * stored.itemsize > len(view):
                raise TorchFileError(f'storage {root_key!r} claims {numel:,} elements '
                                     f'({numel * stored.itemsize:,} bytes) but the whole file '
                                     f'holds {len(view):,} bytes')
        elif (stored.dtype, stored.numel) != (dtype, numel):
            raise TorchFileError(f'storage {root_key!r} is named with two types or sizes')
        if view_metadata is None:
            return stored
        view_key, offset, view_numel = view_metadata
        if not all(_is_count(value) for value in (offset, view_numel)) or \
                offset + view_numel > numel:
            raise TorchFileError(f'a view of storage {root_key!r} lies outside it')
        views.setdefault(view_key, (stored, offset, view_numel))
        return _View(*views[view_key])

    try:
        magic = unpickle()
    except TorchFileError:
        raise TorchFileError('neither a zip archive nor a legacy torch.save file') from None
    if magic != LEGACY_MAGIC_NUMBER:
        raise TorchFileError('neither a zip archive nor a legacy torch.save file (wrong '
                             'magic number)')
    if unpickle() != LEGACY_PROTOCOL_VERSION:
        raise TorchFileError('a legacy torch.save file of an unknown protocol version')
    system = unpickle()
    little_endian = not isinstance(system, dict) or system.get('little_endian', True)
    contents = unpickle()
    keys = unpickle()
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise TorchFileError('the legacy file has no list of storage keys')
    byte_order = 'little' if little_endian else 'big'
    for key in keys:
        stored = storages.get(key)
        if stored is None:
            raise TorchFileError(f'storage {key!r} is listed but no tensor names it')
        (numel,) = struct.unpack('<q' if little_endian else '>q', reader.read_exactly(8))
        if numel != stored.numel:
            raise TorchFileError(f'storage {key!r} holds {numel:,} elements, the pickle says '
                                 f'{stored.numel:,}')
        nbytes = numel * stored.itemsize
        if nbytes > reader.remaining:
            raise TorchFileError(f'storage {key!r} claims {numel:,} elements ({nbytes:,} '
                                 f'bytes) but only {reader.remaining:,} bytes are left in the '
                                 'file')
        stored.data = _ordered(reader.read_exactly(nbytes), stored, byte_order)
    missing = [key for key, stored in storages.items() if stored.data is None]
    if missing:
        raise TorchFileError(f'storages {missing[:3]} have no bytes in the file')
    return contents


class _View:
    """Part of a legacy storage (torch 0.4's storage views); its bytes are its root's."""

    def __init__(self, root, offset, numel):
        self.root, self.offset, self.numel = root, offset, numel
        self.key, self.dtype = root.key, root.dtype

    @property
    def itemsize(self):
        return self.root.itemsize

    def array(self):
        return self.root.array()[self.offset:self.offset + self.numel]


class _BoundedReader:
    """``read``/``readline`` over the file's bytes: a read never returns more than is there."""

    def __init__(self, view):
        self.view, self.position = view, 0

    @property
    def remaining(self):
        return len(self.view) - self.position

    def read(self, count=-1):
        end = len(self.view) if count is None or count < 0 else min(
            len(self.view), self.position + count)
        data = bytes(self.view[self.position:end])
        self.position = end
        return data

    def read_exactly(self, count):
        data = self.read(count)
        if len(data) != count:
            raise TorchFileError('the file ends early (truncated?)')
        return data

    def readline(self):
        end = self.position
        limit = min(len(self.view), self.position + 64 * 1024)
        while end < limit and self.view[end] != 0x0A:
            end += 1
        return self.read(end + 1 - self.position)


def _is_count(value):
    return type(value) is int and value >= 0


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """Check what ``torch._utils._rebuild_tensor(_v2)`` is given: a view inside ``storage``."""
    if not isinstance(storage, (_Storage, _View)):
        raise TorchFileError('a tensor without a storage')
    if not (_is_count(storage_offset) and isinstance(size, tuple | list)
            and isinstance(stride, tuple | list) and len(size) == len(stride)
            and all(_is_count(value) for value in (*size, *stride))):
        raise TorchFileError('a tensor with a malformed offset, size or stride')
    elements = 1
    for extent in size:
        elements *= extent
    if elements:
        last = storage_offset + sum((extent - 1) * step
                                    for extent, step in zip(size, stride, strict=True))
        if last >= storage.numel or elements > storage.numel:
            raise TorchFileError(
                f'a tensor of shape {tuple(size)} reaches past its storage of '
                f'{storage.numel:,} elements')
    return StoredTensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused):
    if not isinstance(data, StoredTensor):
        raise TorchFileError('a parameter without a tensor')
    return data


_TENSOR_BYTES_SLACK = 16 * 1024 * 1024

_TENSOR_GLOBALS = {
    'torch._utils._rebuild_tensor': _rebuild_tensor,
    'torch._utils._rebuild_tensor_v2': _rebuild_tensor,
    'torch._utils._rebuild_parameter': _rebuild_parameter,
    'torch._utils._rebuild_parameter_with_state': _rebuild_parameter,
    'torch.nn.parameter.Parameter': _rebuild_parameter,
    'collections.OrderedDict': PickledDict,
    'builtins.set': set,
    'builtins.frozenset': frozenset,
}


class _StorageType:
    """A storage class a file names (``torch.FloatStorage``): only its element type."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype


_STORAGE_TYPES = {f'{module}.{name}': _StorageType(f'{module}.{name}', dtype)
                  for module in _STORAGE_MODULES for name, dtype in _STORAGE_DTYPES.items()}


class _RestrictedUnpickler(pickle._Unpickler):
    """Python's pickle machine, with globals, calls and BUILD limited to the reader's own.

    The pure-Python machine is used because its opcodes can be replaced one by one: BUILD on
    anything but a placeholder is refused instead of reaching ``setattr``, and REDUCE, NEWOBJ,
    INST and OBJ call only what :meth:`find_class` handed out.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, allowlist, file_size, zip_storage=None, legacy_storage=None):
        super().__init__(file, encoding='utf-8')
        self.allowlist = allowlist
        self.zip_storage, self.legacy_storage = zip_storage, legacy_storage
        self.handed_out = {}
        # Tensors may view one storage many times over; what they add up to stays near the
        # file's size (twice: tied weights), so copying them out cannot exhaust memory.
        self.tensor_bytes_left = 2 * file_size + _TENSOR_BYTES_SLACK
        self.rebuild_tensor = self._counted_rebuild_tensor  # one object: its id is checked

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualified = f'{module}.{name}'
        found = _STORAGE_TYPES.get(qualified) or self.allowlist.lookup(qualified)
        if found is _rebuild_tensor:
            found = self.rebuild_tensor
        if found is None:
            raise TorchFileRefused(f'its pickle asks for {qualified}', qualified)
        # Kept alive with its name, so no other object can come to have its id.
        self.handed_out[id(found)] = (found, qualified)
        return found

    def _counted_rebuild_tensor(self, *arguments):
        tensor = _rebuild_tensor(*arguments)
        elements = 1
        for extent in tensor.shape:
            elements *= extent
        self.tensor_bytes_left -= elements * tensor.storage.itemsize
        if self.tensor_bytes_left < 0:
            raise TorchFileError('its tensors add up to more than twice the bytes of the file '
                                 '(one storage viewed over and over)')
        return tensor

    def persistent_load(self, saved_id):
        if not isinstance(saved_id, tuple) or not saved_id:
            raise TorchFileError('a malformed persistent id')
        kind = saved_id[0].decode('ascii') if isinstance(saved_id[0], bytes) else saved_id[0]
        if kind == 'module' and self.legacy_storage is not None and len(saved_id) == 4:
            # ('module', class, source file, source): torch compares (and patches) sources
            # here; the placeholder has none, so the source is ignored.
            if not _is_placeholder_class(saved_id[1]):
                raise TorchFileRefused('its pickle names a module class outside the allowlist',
                                       repr(saved_id[1]))
            return saved_id[1]
        if kind != 'storage' or not isinstance(saved_id[1], _StorageType):
            raise TorchFileError(f'an unknown persistent id {kind!r}')
        if self.zip_storage is not None and len(saved_id) == 5:
            _, storage_type, key, _location, numel = saved_id
            if not isinstance(key, str) or not _is_count(numel):
                raise TorchFileError('a malformed storage id')
            return self.zip_storage(key, storage_type.dtype, numel)
        if self.legacy_storage is not None and len(saved_id) == 6:
            _, storage_type, key, _location, numel, view = saved_id
            if not isinstance(key, str) or not _is_count(numel) or not (
                    view is None or isinstance(view, tuple) and len(view) == 3):
                raise TorchFileError('a malformed storage id')
            return self.legacy_storage(storage_type.dtype, key, numel, view)
        raise TorchFileError('a storage id of the other format')

    def _describe(self, thing):
        _, named = self.handed_out.get(id(thing), (None, ''))
        if named:
            return f"the {'class' if isinstance(thing, type) else 'function'} {named}" if \
                callable(thing) else named
        return f'a {type(thing).__name__}'

    def _callable(self, candidate):
        if id(candidate) not in self.handed_out:
            raise TorchFileRefused(f'its pickle calls {self._describe(candidate)}, which it was '
                                   'not given by name', self._describe(candidate))
        return candidate

    def load_reduce(self):
        arguments = self.stack.pop()
        function = self._callable(self.stack[-1])
        if not isinstance(arguments, tuple):
            raise TorchFileError('a call with malformed arguments')
        self.stack[-1] = function(*arguments)

    def load_newobj(self):
        arguments = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._instance(cls, arguments))

    def load_newobj_ex(self):
        keywords = self.stack.pop()
        arguments = self.stack.pop()
        cls = self.stack.pop()
        del keywords  # a placeholder takes none
        self.append(self._instance(cls, arguments))

    def _instance(self, cls, arguments):
        if not _is_placeholder_class(cls) and cls is not PickledDict:
            raise TorchFileRefused(f'its pickle creates {self._describe(cls)} directly',
                                   self._describe(cls))
        return cls(*arguments) if isinstance(arguments, tuple) else cls()

    def _instantiate(self, klass, args):
        self.append(self._callable(klass)(*args))

    def load_build(self):
        state = self.stack.pop()
        instance = self.stack[-1]
        if isinstance(instance, PickledDict):
            return  # an OrderedDict's _metadata: nothing the reader uses
        if not isinstance(instance, PickledObject):
            raise TorchFileRefused(f'its pickle sets state on {self._describe(instance)}, '
                                   "which only the reader's placeholders accept",
                                   self._describe(instance))
        # pickle's default BUILD: a __dict__, or (__dict__, slots); anything else kept aside.
        if isinstance(state, tuple) and len(state) == 2 and all(
                part is None or isinstance(part, dict) for part in state):
            parts = state
        elif isinstance(state, dict):
            parts = (state,)
        else:
            instance.__dict__['pickled_state'] = state
            return
        for part in parts:
            for key, value in (part or {}).items():
                if isinstance(key, str):
                    instance.__dict__[key] = value

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    # The extension registry keeps a process-wide cache of objects other unpicklers found.
    for _opcode in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        del dispatch[_opcode[0]]

    def load(self):
        try:
            return super().load()
        except TorchFileError:
            raise
        except Exception as error:  # whatever the pickle machine meets in a malformed stream
            raise TorchFileError(f'a malformed pickle ({type(error).__name__}: '
                                 f'{str(error)[:200]})') from None


def _is_placeholder_class(candidate):
    return isinstance(candidate, type) and issubclass(candidate, PickledObject)
