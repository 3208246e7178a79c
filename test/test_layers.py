"""The package's layers as a check: each room imports only the rooms below it
(``docs/architecture.md`` draws the same order), and no modules import each other in a loop.

Read from the source with ``ast``, so an import inside a function counts as much as one at the
top of a module.
"""

import pytest

import package_imports
from package_imports import imported_modules, is_module, module_name, package_files

# From the top down. A room may import the rooms of any layer below its own, never one above,
# and not the other rooms of its own layer.
LAYERS = (
    ('cli',),
    ('replay', 'monitor'),
    ('nodes',),
    ('toolchain', 'training'),
    ('bags', 'camera'),
    ('networks', 'messages'),
    ('core', 'package_paths', 'msg'),
)
LAYER_OF = {room: depth for depth, rooms in enumerate(LAYERS) for room in rooms}


def room_of(name):
    parts = name.split('.')
    return parts[1] if len(parts) > 1 else None


def test_every_room_is_in_a_layer():
    rooms = {room_of(module_name(path)) for path in package_files()} - {None}
    assert rooms - set(LAYER_OF) == set(), 'put the new room into LAYERS (and the architecture doc)'


def upward_imports():
    found = []
    for path in package_files():
        source_room = room_of(module_name(path))
        if source_room is None:
            continue
        for name, line in imported_modules(path):
            target_room = room_of(name)
            if target_room is None or target_room == source_room:
                continue
            if LAYER_OF[target_room] <= LAYER_OF[source_room]:
                where = path.relative_to(package_imports.PACKAGE.parent)
                found.append(f'{where}:{line} imports {name} '
                             f'({source_room} may not import {target_room})')
    return found


def test_rooms_import_only_the_rooms_below_them():
    assert upward_imports() == []


def import_graph():
    graph = {}
    for path in package_files():
        graph[module_name(path)] = {name for name, _ in imported_modules(path)
                                    if is_module(name)} - {module_name(path)}
    return graph


def strongly_connected(graph):
    """Tarjan's algorithm, iteratively: every set of modules that import each other in a loop."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_no_modules_import_each_other_in_a_loop():
    loops = [sorted(component) for component in strongly_connected(import_graph())
             if len(component) > 1]
    assert loops == []


@pytest.mark.parametrize('graph, loops', [
    ({'a': {'b'}, 'b': {'a'}, 'c': {'a'}}, [['a', 'b']]),
    ({'a': {'b'}, 'b': {'c'}, 'c': set()}, []),
    ({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'d'}}, [['a', 'b', 'c']]),
])
def test_the_loop_finder_finds_loops(graph, loops):
    found = [sorted(component) for component in strongly_connected(graph) if len(component) > 1]
    assert found == loops


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    room = tmp_path / 'edge_perception' / 'core'
    room.mkdir(parents=True)
    (room / 'sneaky.py').write_text('def later():\n'
                                    '    from edge_perception.nodes import depth_node\n')
    (tmp_path / 'edge_perception' / 'nodes').mkdir()
    (tmp_path / 'edge_perception' / 'nodes' / 'depth_node.py').write_text('')
    monkeypatch.setattr(package_imports, 'PACKAGE', tmp_path / 'edge_perception')
    assert upward_imports() == ['edge_perception/core/sneaky.py:2 imports '
                                'edge_perception.nodes.depth_node (core may not import nodes)']
