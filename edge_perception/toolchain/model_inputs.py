"""A model's inputs as the tools see them: shapes from the command line, names, random data."""

import numpy as np


def parse_input_shape(text):
    """Parse ``[NAME=]D,D,...`` (e.g. ``1,3,224,224`` or ``image=1,3,224,224``).

    :return: ``(name or None, dimensions tuple)``.
    :raises ValueError: when the dimensions are not positive integers.
    """
    name, separator, dimensions = text.rpartition('=')
    try:
        shape = tuple(int(value) for value in dimensions.replace('x', ',').split(','))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"'{text}' is not a shape like 1,3,224,224 or NAME=1,3,224,224")
    return (name if separator else None), shape


def port_name(port, fallback):
    """Return the first (sorted) tensor name of a model input or output, or ``fallback``."""
    names = port.get_names()
    return sorted(names)[0] if names else fallback


def random_arrays(specs, generator):
    """Return one random array per ``(shape, numpy dtype)``: standard normal for floating
    point (what normalised images look like), 0..9 for integers, True/False for booleans.

    :param generator: ``numpy.random.Generator``; seeded, the arrays are reproducible.
    """
    arrays = []
    for shape, dtype in specs:
        dtype = np.dtype(dtype)
        if dtype.kind == 'f':
            arrays.append(generator.standard_normal(shape).astype(dtype))
        elif dtype.kind == 'b':
            arrays.append(generator.integers(0, 2, shape).astype(dtype))
        else:
            arrays.append(generator.integers(0, 10, shape).astype(dtype))
    return arrays
