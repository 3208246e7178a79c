"""What the managed (lifecycle) nodes need to behave alike on Humble, Jazzy and Kilted.

On Humble's and Jazzy's rclpy, ``~/change_state`` with a transition the current state does not
have (``activate`` while unconfigured, sent by id as a lifecycle manager or ``ros2 service
call`` sends it) raises ``RCLError`` out of the service callback and so out of ``spin``: the
node process ends with a traceback. Kilted's logs it and answers ``success: false``; so does
every distribution with :func:`refuse_unavailable_transitions`.
"""

from rclpy.lifecycle import LifecycleNode


def refuse_unavailable_transitions(node: LifecycleNode):
    """Make ``node``'s ``~/change_state`` answer ``success: false`` to a transition id that
    its current state does not have, and log why, instead of letting rclpy raise.

    The service is rclpy's own (``LifecycleNode`` has no hook for this): its callback is
    wrapped, and a transition the state has goes to it unchanged.
    """
    service = node._service_change_state
    change_state = service.callback

    def change_state_if_available(request, response):
        transition = request.transition
        available = {description[0] for description in node._state_machine.available_transitions}
        if not transition.label and transition.id not in available:
            state = node._state_machine.current_state[1]
            node.get_logger().error(f'transition {transition.id} refused: the {state} state '
                                    f'has transitions {sorted(available)} only')
            response.success = False
            return response
        return change_state(request, response)

    service.callback = change_state_if_available
