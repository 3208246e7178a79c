"""Checkpoints built as an attacker would: code in a TorchScript archive, a pickle that sets
attributes on a function torch allows, storages that claim more bytes than the file holds.

Each is given to the installed ``edge-perception convert`` as a user would: it must exit 1
with one line, write nothing, run nothing and keep its memory bounded.
"""

import io
import os
from pathlib import Path
import pickle
import subprocess
import sys
import textwrap
import zipfile

import pytest

from edge_perception.replay.node_process import installed_command
from edge_perception.toolchain.conversion import ConversionError

from command_results import assert_one_line_exit_1

TEST_DIRECTORY = Path(__file__).resolve().parent
TORCH_FACTORY = 'test_convert:tiny_net'
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# What reading a refused file may cost beyond reading a small honest one.
MEMORY_MARGIN_KIB = 50 * 1024

# A scripted module whose __setstate__ (run by torch.jit.load) overwrites the file it names;
# the sum keeps TorchScript from dropping the write as dead code.
TORCHSCRIPT_WRITER = textwrap.dedent("""
    import sys
    from typing import Tuple
    import torch

    class Writer(torch.nn.Module):
        def __init__(self, path: str):
            super().__init__()
            self.path = path
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x

        @torch.jit.export
        def __getstate__(self) -> Tuple[str, bool, torch.Tensor]:
            return (self.path, self.training, self.weight)

        @torch.jit.export
        def __setstate__(self, state: Tuple[str, bool, torch.Tensor]) -> None:
            self.path, self.training, self.weight = state[0], state[1], state[2]
            victim = torch.from_file(self.path, shared=True, size=6, dtype=torch.uint8)
            victim.fill_(88)
            self.weight.data[0] = float(victim.sum())

    torch.jit.save(torch.jit.script(Writer(sys.argv[2])), sys.argv[1])
""")


def convert(model, output, *options, cwd, env=None):
    """Run the installed ``edge-perception convert``; return (result, peak RSS in KiB)."""
    command = [str(installed_command('edge-perception')), 'convert', str(model), '-o',
               str(output), *options]
    # A parent of its own, so the peak is this run's alone.
    measure = ('import resource, subprocess, sys; '
               'result = subprocess.run(sys.argv[1:], capture_output=True, text=True); '
               'sys.stdout.write(result.stdout); sys.stderr.write(result.stderr); '
               'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stdout); '
               'sys.exit(result.returncode)')
    result = subprocess.run([sys.executable, '-c', measure, *command], capture_output=True,
                            text=True, timeout=300, cwd=cwd, env=env)
    *stdout, peak = result.stdout.strip().splitlines() or ['0']
    result.stdout = '\n'.join(stdout)
    return result, int(peak)


@pytest.fixture(scope='module')
def torch():
    return pytest.importorskip('torch')


@pytest.mark.parametrize('name, options', [
    ('scripted.pth.tar', ()),  # taken for the FastDepth authors' checkpoint
    ('scripted.pt', ('--torch-module', TORCH_FACTORY, '--input-shape', '1,3,8,8')),
])
def test_a_torchscript_archive_is_refused_and_its_code_never_runs(torch, tmp_path, name,
                                                                  options):
    marker = tmp_path / 'marker.txt'
    marker.write_text('intact\n')
    archive = tmp_path / name
    writer = tmp_path / 'write_torchscript.py'  # TorchScript compiles from a source file
    writer.write_text(TORCHSCRIPT_WRITER)
    subprocess.run([sys.executable, str(writer), str(archive), str(marker)], check=True,
                   timeout=300)
    marker.write_text('intact\n')  # scripting may run __setstate__ once while saving
    with zipfile.ZipFile(archive) as contents:
        assert any(entry.endswith('constants.pkl') for entry in contents.namelist())
    result, _ = convert(archive, tmp_path / 'out.xml', *options, cwd=TEST_DIRECTORY)
    assert_one_line_exit_1(result, 'TorchScript')
    assert marker.read_text() == 'intact\n', "the archive's code ran"
    assert not (tmp_path / 'out.xml').exists()


class Opcodes:
    """A protocol 2 pickle, written opcode by opcode."""

    def __init__(self):
        self.data = bytearray(b'\x80\x02')

    def global_(self, module, name):
        self.data += b'c' + f'{module}\n{name}\n'.encode()
        return self

    def value(self, value):
        # A value's own protocol 2 opcodes, without its PROTO and STOP.
        self.data += pickle.dumps(value, protocol=2)[2:-1]
        return self

    def raw(self, opcodes):
        self.data += opcodes
        return self

    def end(self):
        return bytes(self.data + b'.')


def legacy_file(main_pickle, storage_keys=(), storages=b''):
    header = b''.join(pickle.dumps(value, protocol=2) for value in (
        LEGACY_MAGIC, 1001,
        {'protocol_version': 1001, 'little_endian': True,
         'type_sizes': {'short': 2, 'int': 4, 'long': 4}}))
    return header + main_pickle + pickle.dumps(list(storage_keys), protocol=2) + storages


def build_on_rebuild_function(patch_stem):
    """BUILD on torch's own ``_rebuild_tensor_v2``, then a module id naming it with a source.

    torch.load's legacy reader then finds dump_patches set and a source that differs from the
    function's, and appends a diff to ``<__name__>.patch``.
    """
    return (Opcodes()
            .global_('torch._utils', '_rebuild_tensor_v2').raw(b'q\xfa')  # BINPUT 250
            .value(({'dump_patches': True}, {'__name__': str(patch_stem)}))
            .raw(b'b')  # BUILD
            .raw(b'0')  # POP
            .raw(b'(').value('module').raw(b'h\xfa').value('evil.py').value('print(1)\n')
            .raw(b't' b'Q')  # TUPLE, BINPERSID
            .raw(b'0')  # POP
            .value({'model': {}})
            .end())


def test_a_pickle_may_not_set_attributes_on_a_function_torch_allows(torch, tmp_path):
    home, work = tmp_path / 'home', tmp_path / 'work'
    home.mkdir()
    work.mkdir()
    checkpoint = tmp_path / 'patches.pth.tar'
    checkpoint.write_bytes(legacy_file(build_on_rebuild_function(tmp_path / 'written')))
    result, _ = convert(checkpoint, tmp_path / 'out.xml', cwd=work,
                        env={**os.environ, 'HOME': str(home)})
    assert_one_line_exit_1(result, 'refusing', 'function', 'Nothing in the file was run')
    patches = [*tmp_path.rglob('*.patch'), *TEST_DIRECTORY.rglob('*.patch')]
    assert not patches, f'the checkpoint wrote {patches}'
    assert not (tmp_path / 'out.xml').exists()

    from edge_perception.toolchain.fastdepth_checkpoint import CheckpointRefused, read_checkpoint
    with pytest.raises(CheckpointRefused, match='sets state on the function'):
        read_checkpoint(checkpoint)
    assert torch._utils._rebuild_tensor_v2.__name__ == '_rebuild_tensor_v2'
    assert not hasattr(torch._utils._rebuild_tensor_v2, 'dump_patches')


@pytest.mark.parametrize('target', ['collections.OrderedDict', 'torch.FloatStorage',
                                    'torch.nn.modules.conv.Conv2d'])
def test_a_pickle_may_not_set_attributes_on_an_allowed_class(tmp_path, target):
    from edge_perception.toolchain.fastdepth_checkpoint import CheckpointRefused, read_checkpoint
    module, _, name = target.rpartition('.')
    checkpoint = tmp_path / 'classes.pth.tar'
    checkpoint.write_bytes(legacy_file(
        Opcodes().global_(module, name).value({'dump_patches': True}).raw(b'b').end()))
    with pytest.raises(CheckpointRefused, match='sets state on'):
        read_checkpoint(checkpoint)


def state_dict_pickle(numel, key='0'):
    """A state_dict of one float tensor of ``numel`` elements in storage ``key`` (zip)."""
    return (Opcodes()
            .global_('collections', 'OrderedDict').value(()).raw(b'R')  # REDUCE
            .value('weight')
            .global_('torch._utils', '_rebuild_tensor_v2')
            .raw(b'(')  # MARK: the call's arguments
            .raw(b'(').value('storage').global_('torch', 'FloatStorage').value(key)
            .value('cpu').value(numel).raw(b't' b'Q')
            .value(0).value((numel,)).value((1,)).value(False)
            .global_('collections', 'OrderedDict').value(()).raw(b'R')
            .raw(b't' b'R')  # TUPLE, REDUCE
            .raw(b's')  # SETITEM
            .end())


def zip_checkpoint(path, numel, record_bytes, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w', compression) as archive:
        archive.writestr('archive/data.pkl', state_dict_pickle(numel),
                         compress_type=zipfile.ZIP_STORED)
        with archive.open('archive/data/0', 'w', force_zip64=True) as record:
            chunk = bytes(16 * 1024 * 1024)
            for start in range(0, record_bytes, len(chunk)):
                record.write(chunk[:min(len(chunk), record_bytes - start)])
        archive.writestr('archive/version', '3\n')


def legacy_checkpoint(path, numel, record_bytes):
    main = (Opcodes()
            .value('weight').raw(b'q\x01')
            .global_('torch._utils', '_rebuild_tensor_v2')
            .raw(b'(')
            .raw(b'(').value('storage').global_('torch', 'FloatStorage').value('0')
            .value('cpu').value(numel).value(None).raw(b't' b'Q')
            .value(0).value((numel,)).value((1,)).value(False)
            .global_('collections', 'OrderedDict').value(()).raw(b'R')
            .raw(b't' b'R'))
    # {'weight': tensor}: EMPTY_DICT, key, value, SETITEM, built around the opcodes above.
    body = b'\x80\x02}' + bytes(main.data[2:]) + b's.'
    path.write_bytes(legacy_file(body, ['0'], numel.to_bytes(8, 'little')
                                 + bytes(record_bytes)))


# (what, how it is written); every one declares far more than its record or file holds.
OVERSIZED = {
    # ~1 MB deflated, 512 MiB once inflated: torch.load inflates it whole.
    'zip-deflated-record': lambda path: zip_checkpoint(path, 128 * 1024 * 1024,
                                                       512 * 1024 * 1024, zipfile.ZIP_DEFLATED),
    'zip-short-record': lambda path: zip_checkpoint(path, 2 ** 31, 1024),
    'legacy-short-storage': lambda path: legacy_checkpoint(path, 2 ** 31, 1024),
}


@pytest.mark.parametrize('name', OVERSIZED)
def test_a_storage_larger_than_its_bytes_is_refused_before_it_is_allocated(torch, tmp_path,
                                                                           name):
    honest = tmp_path / 'honest.pth.tar'
    torch.save({'body.0.weight': torch.zeros(8, 3, 3, 3)}, honest)
    baseline, baseline_peak = convert(honest, tmp_path / 'honest.xml', cwd=TEST_DIRECTORY)
    assert baseline.returncode == 1  # not the authors' network: refused after reading it

    checkpoint = tmp_path / f'{name}.pth.tar'
    OVERSIZED[name](checkpoint)
    assert checkpoint.stat().st_size < 4 * 1024 * 1024
    result, peak = convert(checkpoint, tmp_path / 'out.xml', cwd=TEST_DIRECTORY)
    assert_one_line_exit_1(result, 'storage')
    assert peak - baseline_peak < MEMORY_MARGIN_KIB, (
        f'reading it peaked at {peak / 1024:.0f} MiB, an honest file at '
        f'{baseline_peak / 1024:.0f} MiB')


def test_the_state_dict_reader_refuses_what_the_checkpoint_reader_refuses(torch, tmp_path):
    from edge_perception.toolchain.model_sources import load_state_dict
    patches = tmp_path / 'patches.pt'
    patches.write_bytes(legacy_file(build_on_rebuild_function(tmp_path / 'written')))
    with pytest.raises(ConversionError, match='Nothing in the file was run'):
        load_state_dict(patches)
    oversized = tmp_path / 'oversized.pt'
    legacy_checkpoint(oversized, 2 ** 31, 1024)
    with pytest.raises(ConversionError, match="storage '0' claims 2,147,483,648 elements"):
        load_state_dict(oversized)
    assert not list(tmp_path.rglob('*.patch'))


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    from edge_perception.toolchain.torch_file import Allowlist, read_torch_file, TorchFileError
    path = tmp_path / 'strided.pt'
    data = state_dict_pickle(16).replace(pickle.dumps((16,), protocol=2)[2:-1],
                                         pickle.dumps((1000,), protocol=2)[2:-1], 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        archive.writestr('archive/data.pkl', data)
        archive.writestr('archive/data/0', bytes(64))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(TorchFileError, match='reaches past its storage'):
        read_torch_file(path, Allowlist(classes={}, callables={}))


@pytest.mark.parametrize('legacy', [True, False], ids=['legacy', 'zip'])
def test_mangled_checkpoints_are_read_or_refused_as_files_never_as_bugs(torch, tmp_path,
                                                                         legacy):
    from edge_perception.toolchain.fastdepth_checkpoint import read_checkpoint
    from edge_perception.toolchain.torch_file import TorchFileError
    original = tmp_path / 'original.pth.tar'
    torch.save({'model': torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()),
                'epoch': 3}, original, _use_new_zipfile_serialization=not legacy)
    data = original.read_bytes()
    generator = __import__('random').Random(21)
    mangled = tmp_path / 'mangled.pth.tar'
    outcomes = {'read': 0, 'refused': 0}
    for _ in range(300):
        changed = bytearray(data)
        for _ in range(generator.randint(1, 8)):
            # Mostly the pickle (the first few KB), where the structure lives.
            position = generator.randrange(min(len(changed), 4096))
            changed[position] = generator.randrange(256)
        mangled.write_bytes(bytes(changed[:generator.choice([len(changed), len(changed) // 2])]))
        try:
            read_checkpoint(mangled)
            outcomes['read'] += 1
        except (ConversionError, TorchFileError):
            outcomes['refused'] += 1
    assert outcomes['refused'] > 100, outcomes


def test_one_storage_viewed_over_and_over_is_refused_before_it_is_copied(tmp_path):
    from edge_perception.toolchain.torch_file import Allowlist, read_torch_file, TorchFileError
    numel, views = 64 * 1024, 3000  # 256 KiB of floats, viewed 3000 times: 750 MiB of copies
    body = Opcodes().global_('collections', 'OrderedDict').value(()).raw(b'R')
    for index in range(views):
        (body.value(f'w{index}').global_('torch._utils', '_rebuild_tensor_v2').raw(b'(')
         .raw(b'(').value('storage').global_('torch', 'FloatStorage').value('0').value('cpu')
         .value(numel).raw(b't' b'Q').value(0).value((numel,)).value((1,)).value(False)
         .global_('collections', 'OrderedDict').value(()).raw(b'R').raw(b't' b'R' b's'))
    path = tmp_path / 'views.pt'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('archive/data.pkl', body.end())
        archive.writestr('archive/data/0', bytes(4 * numel))
    assert path.stat().st_size < 4 * 1024 * 1024
    with pytest.raises(TorchFileError, match='more than twice the bytes of the file'):
        read_torch_file(path, Allowlist(classes={}, callables={}))
