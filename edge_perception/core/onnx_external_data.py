"""Where an ONNX file's external weights live, checked before any reader opens them.

An ONNX tensor may keep its values in another file, named by the ``location`` entry of its
``external_data``, relative to the model's folder. A model from outside could name
``/etc/shadow``, ``../../secret`` or a symlink leading out of the folder, and the reader
(OpenVINO, onnxruntime, OpenCV) would read that file as weights. :func:`check_external_data`
walks the protobuf wire format itself (no ``onnx`` package needed) through every place a
tensor can sit: graph initializers, sparse initializers, node attributes (tensors, subgraphs,
their lists), functions and training information, and refuses a location that is absolute,
contains ``..``, or resolves outside the model's folder. No rclpy here.
"""

import mmap
import os
import re

# Field numbers of onnx.proto (onnx/onnx.proto, stable since IR version 3).
_MODEL = {7: 'graph', 20: 'training_info', 25: 'function'}
_GRAPH = {1: 'node', 5: 'tensor', 15: 'sparse_tensor'}
_NODE = {5: 'attribute'}
_ATTRIBUTE = {5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse_tensor',
              23: 'sparse_tensor'}
_SPARSE_TENSOR = {1: 'tensor', 2: 'tensor'}
_FUNCTION = {7: 'node'}
_TRAINING_INFO = {1: 'graph', 2: 'graph'}
_MESSAGES = {'model': _MODEL, 'graph': _GRAPH, 'node': _NODE, 'attribute': _ATTRIBUTE,
             'sparse_tensor': _SPARSE_TENSOR, 'function': _FUNCTION,
             'training_info': _TRAINING_INFO}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_EXTERNAL = 1
# Far deeper than any real model's subgraphs (an If inside a Loop inside a function ...).
_MAX_DEPTH = 64
_WINDOWS_DRIVE = re.compile(r'^[A-Za-z]:')


class OnnxFileError(ValueError):
    """The ONNX file cannot be accepted: see the two kinds below."""

    verdict = ''

    def for_file(self, path):
        """Return the one line a user reads: the verdict, the file and the reason."""
        return f"{self.verdict} '{path}': {self}"


class UnsafeOnnxFile(OnnxFileError):
    """The ONNX file names external data outside its folder (or without a location)."""

    verdict = 'refusing model'


class MalformedOnnxFile(OnnxFileError):
    """The file is not protobuf: no ONNX reader could read it either."""

    verdict = 'cannot read model'


def check_external_data(path):
    """Refuse an ONNX file at ``path`` whose external data lies outside its folder.

    :return: the external data locations it names (relative to its folder), in file order.
    :raises UnsafeOnnxFile: for a location that is absolute, contains ``..``, resolves
        (through symlinks) outside the folder, or is missing.
    :raises MalformedOnnxFile: for a file that is not protobuf.
    """
    path = os.fspath(path)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    locations = []
    with open(path, 'rb') as file:
        if os.fstat(file.fileno()).st_size == 0:
            raise MalformedOnnxFile('the file is empty')
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for name, location in _external_tensors(view):
                    _check_location(folder, name, location)
                    locations.append(location)
            finally:
                view.release()
    return locations


def _check_location(folder, tensor, location):
    where = f"tensor '{tensor}' keeps its values in "
    if location is None:
        raise UnsafeOnnxFile(f"tensor '{tensor}' has external data without a location")
    shown = repr(location)
    if not location or '\x00' in location:
        raise UnsafeOnnxFile(f'{where}{shown}, which is not a file name')
    if os.path.isabs(location) or location.startswith(('/', '\\')) or \
            _WINDOWS_DRIVE.match(location):
        raise UnsafeOnnxFile(f"{where}{shown}, an absolute path; external data must lie in "
                             "the model's folder")
    if '..' in re.split(r'[\\/]', location):
        raise UnsafeOnnxFile(f"{where}{shown}, which climbs out with '..'; external data "
                             "must lie in the model's folder")
    resolved = os.path.realpath(os.path.join(folder, location))
    if os.path.commonpath([folder, resolved]) != folder:
        raise UnsafeOnnxFile(f"{where}{shown}, which resolves to '{resolved}' outside the "
                             f"model's folder '{folder}' (a symlink?)")


def _external_tensors(view):
    """Yield ``(tensor name, location or None)`` for every tensor with external data."""
    pending = [('model', 0, len(view), 0)]
    while pending:
        kind, start, end, depth = pending.pop()
        if depth > _MAX_DEPTH:
            raise MalformedOnnxFile(f'messages nest deeper than {_MAX_DEPTH}: not an ONNX model')
        if kind == 'tensor':
            external = _external_location(view, start, end)
            if external is not None:
                yield external
            continue
        children = _MESSAGES[kind]
        found = []
        for field, wire_type, value in _fields(view, start, end):
            if wire_type == 2 and field in children:
                found.append((children[field], *value, depth + 1))
        pending.extend(reversed(found))


def _external_location(view, start, end):
    name, location, external, entries = '', None, False, False
    for field, wire_type, value in _fields(view, start, end):
        if field == _TENSOR_NAME and wire_type == 2:
            name = _text(view, *value)
        elif field == _TENSOR_DATA_LOCATION and wire_type == 0:
            external = value == _EXTERNAL
        elif field == _TENSOR_EXTERNAL_DATA and wire_type == 2:
            entries = True
            key, text = '', ''
            for entry_field, entry_type, entry_value in _fields(view, *value):
                if entry_type == 2 and entry_field == 1:
                    key = _text(view, *entry_value)
                elif entry_type == 2 and entry_field == 2:
                    text = _text(view, *entry_value)
            if key == 'location':
                location = text
    if external or entries or location is not None:
        return name, location
    return None


def _text(view, start, end):
    return bytes(view[start:end]).decode('utf-8', 'replace')


def _fields(view, start, end):
    """Yield ``(field, wire type, value)``: an int for varints, ``(start, end)`` for bytes."""
    position = start
    while position < end:
        key, position = _varint(view, position, end)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(view, position, end)
        elif wire_type == 1:
            value, position = None, position + 8
        elif wire_type == 2:
            length, position = _varint(view, position, end)
            value, position = (position, position + length), position + length
        elif wire_type == 5:
            value, position = None, position + 4
        else:
            raise MalformedOnnxFile(f'wire type {wire_type} at byte {position}: not an ONNX model')
        if position > end:
            raise MalformedOnnxFile(f'a field runs past its message at byte {position}: not an '
                                 'ONNX model (truncated?)')
        yield field, wire_type, value


def _varint(view, position, end):
    result = shift = 0
    while True:
        if position >= end or shift > 63:
            raise MalformedOnnxFile(f'a broken number at byte {position}: not an ONNX model')
        byte = view[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
