"""Declaring ROS parameters from one table, each with a full ``ParameterDescriptor``."""

from dataclasses import dataclass

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.parameter import Parameter

# Descriptor type and rclpy type of an array parameter, by element type.
_ARRAY_TYPES = {
    'string': (ParameterType.PARAMETER_STRING_ARRAY, Parameter.Type.STRING_ARRAY),
    'double': (ParameterType.PARAMETER_DOUBLE_ARRAY, Parameter.Type.DOUBLE_ARRAY),
}


class ParameterError(ValueError):
    """A parameter value outside what the node accepts."""


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its default, what it means, and the values it accepts.

    :param choices: allowed string values (validated here; rclpy does not enforce them).
    :param value_range: ``(low, high)`` inclusive, enforced by rclpy.
    :param read_only: True for what only applies when the node is created (``autostart``).
    :param dynamic_typing: True to accept a value of any type (a camera given as ``/dev/video0``
        or as the integer ``0``).
    :param at_configure: True for what the node reads when it is configured (model, device,
        ...): changes are refused unless the node is unconfigured (see
        :class:`~edge_perception.nodes.inference_node.InferenceNode`).

    A default of ``[]`` declares an array (of ``element_type``: 'string' or 'double') that is
    unset until given: rcl cannot type an empty list (in YAML or on the command line), so such a
    parameter is left out of parameter files unless it has values, and reads as ``[]``.
    """

    name: str
    default: object
    description: str
    choices: tuple = ()
    value_range: tuple | None = None
    read_only: bool = False
    at_configure: bool = False
    element_type: str = 'string'
    dynamic_typing: bool = False

    def descriptor(self):
        description = self.description
        if self.at_configure:
            description += ' Read on configure: change it while the node is unconfigured.'
        descriptor = ParameterDescriptor(name=self.name, description=description,
                                         read_only=self.read_only,
                                         dynamic_typing=self.dynamic_typing)
        if self.is_unset_array:
            descriptor.type = _ARRAY_TYPES[self.element_type][0]
        if self.choices:
            descriptor.additional_constraints = \
                f"Must be one of: {', '.join(map(str, self.choices))}"
        if self.value_range is not None:
            low, high = self.value_range
            if isinstance(self.default, float):
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
            else:
                descriptor.integer_range = [
                    IntegerRange(from_value=int(low), to_value=int(high), step=0)]
        return descriptor

    @property
    def is_unset_array(self):
        """True for an array whose default is empty (see the class documentation)."""
        return isinstance(self.default, list) and not self.default

    def check(self, value):
        """Raise :class:`ParameterError` when ``value`` is not one of the choices."""
        if self.choices and value not in self.choices:
            raise ParameterError(f"parameter '{self.name}' is '{value}'; "
                                 f"must be one of: {', '.join(map(str, self.choices))}")


def declare_parameters(node, specs):
    """Declare every spec on ``node`` and return ``{name: value}``.

    :raises ParameterError: when a given value is not one of its choices.
    """
    values = {}
    for spec in specs:
        if spec.is_unset_array:
            value = node.declare_parameter(spec.name, _ARRAY_TYPES[spec.element_type][1],
                                           spec.descriptor()).value
            value = list(value or [])
        else:
            value = node.declare_parameter(spec.name, spec.default, spec.descriptor()).value
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
