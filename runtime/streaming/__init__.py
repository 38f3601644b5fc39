"""Stream processing building blocks: request micro-batching, a bounded shedding queue, a single-consumer
stream processor and event-time windows (tumbling and sliding)."""

from runtime.streaming.batching import BatchError, MicroBatcher
from runtime.streaming.processor import StreamProcessor
from runtime.streaming.queue import BoundedQueue
from runtime.streaming.windows import Aggregator, SlidingWindow, TumblingWindows, Window

__all__ = [
    "Aggregator",
    "BatchError",
    "BoundedQueue",
    "MicroBatcher",
    "SlidingWindow",
    "StreamProcessor",
    "TumblingWindows",
    "Window",
]
