"""Failures injected at the engine boundary: the hook runs on real, finished OpenVINO requests."""


class InjectedFault(RuntimeError):
    """What the test hook raises in place of a device error."""


class FailingRequests:
    """Engine-boundary hook (``ImagePipeline.inject_faults``) failing the next ``count``
    finished requests.
    """

    def __init__(self, count):
        self.remaining = count

    def __call__(self, request):
        assert request.get_output_tensor(0).data.size > 0  # a real, finished request
        if self.remaining > 0:
            self.remaining -= 1
            raise InjectedFault('device lost the request')
