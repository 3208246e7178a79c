"""How an inference node takes camera frames in and hands their results to its head.

A frame goes down once: the message's pixels become an
:class:`~edge_perception.core.image_codec.ImageFrame` (a compressed one is decoded into one)
and go to :meth:`~edge_perception.core.pipeline.ImagePipeline.process` with the header. Its
result comes up once: the outputs with the pipeline's
:class:`~edge_perception.core.pipeline.FrameResult` (the frame, its decoded view, the crop the
network saw) go to the head's ``publish_outputs``, then the timing is published. Every frame
is counted, and no exception leaves a callback.
"""

import time
import traceback

from edge_perception.core.compressed_image import decode_compressed_image
from edge_perception.core.image_codec import ImageFormatError, ImageFrame
from edge_perception.core.pipeline import DeviceReleasedError, StreamCompileError
from edge_perception.core.preprocessing import PreprocessingError

WARN_PERIOD_S = 5.0
# What a frame refused as bad input raises: the package's own input errors (the message's
# fields, encoding, size or compressed data; an encoding this model cannot take). Counted in
# frames_rejected with a warning.
BAD_INPUT_ERRORS = (ImageFormatError, PreprocessingError)
# A frame that cannot be served now for a reason /diagnostics already reports: its stream's
# compilation failed (retried with back-off), or the device is released. Counted as rejected.
UNSERVED_ERRORS = (StreamCompileError, DeviceReleasedError)


class ImageIntake:
    """The image callbacks and the pipeline's result callbacks of
    :class:`~edge_perception.nodes.inference_node.InferenceNode`, with the frame counters.
    """

    def _reset_counters(self):
        self.frames_received = 0
        self.frames_rejected = 0
        self.frames_processed = 0
        self.output_failures = 0
        self.internal_errors = 0
        self.last_internal_error = ''

    def _on_image(self, msg):
        self._take(self._process, msg, 'image')

    def _on_compressed_image(self, msg):
        self._take(self._process_compressed, msg, 'compressed image')

    def _take(self, process, msg, kind):
        """Count a frame in and process it; no exception leaves the callback.

        Anything raised but :data:`BAD_INPUT_ERRORS` and :data:`UNSERVED_ERRORS` is a bug, not
        bad input: counted in ``internal_errors``, logged with its traceback, ERROR on
        /diagnostics.
        """
        self.frames_received += 1
        self._health.image_received()
        try:
            process(msg)
        except BAD_INPUT_ERRORS as error:
            self.frames_rejected += 1
            self.get_logger().warning(f'dropping {kind}: {error}',
                                      throttle_duration_sec=WARN_PERIOD_S)
        except UNSERVED_ERRORS as error:
            self.frames_rejected += 1
            self.get_logger().error(f'cannot run the model on this {kind}: {error}',
                                    throttle_duration_sec=WARN_PERIOD_S)
        except Exception as error:  # a bug, not bad input: the node keeps serving, loudly
            self.internal_errors += 1
            self.last_internal_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(
                f'internal error on this {kind} (a bug in edge_perception, not bad input): '
                f'{self.last_internal_error}\n{traceback.format_exc().rstrip()}',
                throttle_duration_sec=WARN_PERIOD_S)

    def _process(self, msg):
        """Hand an Image message's frame to the pipeline, its header as the context."""
        self.pipeline.process(ImageFrame.of(msg), msg.header)

    def _process_compressed(self, msg):
        # Measured (its header) before it is decoded: the limits apply before any allocation.
        values = self.parameter_values
        frame = decode_compressed_image(msg.format, msg.data, values['max_width'],
                                        values['max_height'])
        self.pipeline.process(frame, msg.header)

    def _on_compiled(self, event):
        """Log what a compilation did (called from the pipeline's compilation thread)."""
        stream = f'{event.width}x{event.height} {event.encoding} on {event.device}'
        if event.error:
            self.get_logger().error(f'cannot compile for {stream} (will retry): {event.error}')
            return
        reason = f' ({event.reason})' if event.reason else ''
        self.get_logger().info(f'compiled for {stream} with {event.preprocessing} '
                               f'preprocessing{reason}')

    def _on_result(self, header, outputs, result):
        postprocess_started = time.perf_counter()
        try:
            self.publish_outputs(header, outputs, result)
        except Exception as error:  # one bad frame must not stop the stream
            self.output_failures += 1
            self.get_logger().error(f'cannot publish results: {error}',
                                    throttle_duration_sec=WARN_PERIOD_S)
            return
        published = time.perf_counter()
        self.frames_processed += 1
        self._publish_timing(header, result, (published - postprocess_started) * 1e3,
                             (published - result.received) * 1e3)

    def _on_inference_error(self, header, error):
        self.get_logger().error(
            f'inference failed ({self.pipeline.consecutive_failures} in a row): {error}; '
            'recreating the infer requests for the next frame',
            throttle_duration_sec=WARN_PERIOD_S)
