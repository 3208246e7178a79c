"""Reading the package's imports from its source with ``ast`` (for the layer and no-ROS checks)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'edge_perception'


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path, everywhere=True, ours=True):
    """The modules ``path`` imports, with the line of each.

    :param everywhere: True for imports anywhere in the file (inside functions too); False for
        those that run when the module is loaded (its body, ``try`` and ``if`` blocks included).
    :param ours: True for ``edge_perception`` modules only.
    """
    package = (module_name(path) if path.name == '__init__.py'
               else module_name(path).rpartition('.')[0])
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree) if everywhere else _load_time_statements(tree.body):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            # ``from package import module`` imports the module, not only the package.
            found += [(f'{base}.{alias.name}' if is_module(f'{base}.{alias.name}') else base,
                       node.lineno) for alias in node.names]
    if not ours:
        return found
    return [(name, line) for name, line in found
            if name == 'edge_perception' or name.startswith('edge_perception.')]


def _load_time_statements(body):
    for statement in body:
        yield statement
        if isinstance(statement, (ast.If, ast.Try)):
            for block in (getattr(statement, field, []) for field in
                          ('body', 'orelse', 'finalbody')):
                yield from _load_time_statements(block)
            for handler in getattr(statement, 'handlers', []):
                yield from _load_time_statements(handler.body)


def is_module(name):
    path = PACKAGE.parent.joinpath(*name.split('.'))
    return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def package_files():
    return sorted(PACKAGE.rglob('*.py'))
