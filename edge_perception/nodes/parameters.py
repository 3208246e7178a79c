"""Declaring ROS parameters from the tables of
:mod:`~edge_perception.nodes.parameter_tables`, each with a full ``ParameterDescriptor``.
"""

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.parameter import Parameter

from edge_perception.nodes.parameter_tables import ParameterError

# Descriptor type and rclpy type of an array parameter, by element type.
_ARRAY_TYPES = {
    'string': (ParameterType.PARAMETER_STRING_ARRAY, Parameter.Type.STRING_ARRAY),
    'double': (ParameterType.PARAMETER_DOUBLE_ARRAY, Parameter.Type.DOUBLE_ARRAY),
}


def parameter_descriptor(spec):
    """Return the ``rcl_interfaces`` ``ParameterDescriptor`` of a
    :class:`~edge_perception.nodes.parameter_tables.ParameterSpec`: its description, its
    choices as "Must be one of: ...", its range (enforced by rclpy) and ``read_only``.
    """
    description = spec.description
    if spec.at_configure:
        description += ' Read on configure: change it while the node is unconfigured.'
    descriptor = ParameterDescriptor(name=spec.name, description=description,
                                     read_only=spec.read_only,
                                     dynamic_typing=spec.dynamic_typing)
    if spec.is_unset_array:
        descriptor.type = _ARRAY_TYPES[spec.element_type][0]
    if spec.choices:
        descriptor.additional_constraints = \
            f"Must be one of: {', '.join(map(str, spec.choices))}"
    if spec.value_range is not None:
        low, high = spec.value_range
        if isinstance(spec.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        else:
            descriptor.integer_range = [
                IntegerRange(from_value=int(low), to_value=int(high), step=0)]
    return descriptor


def declare_parameters(node, specs):
    """Declare every spec on ``node`` and return ``{name: value}``.

    :raises ParameterError: when a given value is not one of its choices.
    """
    values = {}
    for spec in specs:
        if spec.is_unset_array:
            value = node.declare_parameter(spec.name, _ARRAY_TYPES[spec.element_type][1],
                                           parameter_descriptor(spec)).value
            value = list(value or [])
        else:
            value = node.declare_parameter(spec.name, spec.default,
                                           parameter_descriptor(spec)).value
        spec.check(value)
        values[spec.name] = value
    return values


def choice_validator(specs):
    """Return an on-set-parameters callback rejecting values outside each spec's choices.

    Names the specs do not cover are accepted: they belong to someone else (QoS overrides,
    ``use_sim_time``).
    """
    by_name = {spec.name: spec for spec in specs}

    def validate(parameters):
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            if spec is None:
                continue
            try:
                spec.check(parameter.value)
            except ParameterError as error:
                return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    return validate
