"""OpenTelemetry tracing for the gateway: W3C `traceparent`/`tracestate` in and out, spans for the request,
rate limiting, each cache tier and storage fetches. Exporter `otlp` (HTTP/protobuf) or `none`.

With `none` the tracer is the API's no-op tracer: spans cost next to nothing, yet a remote parent still
propagates (a non-recording span carries the caller's trace id to downstream calls such as CDN purges).
The provider is kept per app instead of installed globally, so tests and several apps never share state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from runtime.service.settings import TracingSettings

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = (b"traceparent", b"tracestate")
DEBUG_HEADER = b"x-streamgate-debug"  # a debug token: the response carries Server-Timing
_WATCHED = frozenset((*_TRACE_HEADERS, DEBUG_HEADER))


def watched(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes] | None:
    """The request headers the edge acts on (trace context, debug token) in one pass; None if none."""
    seen: dict[bytes, bytes] | None = None
    for name, value in headers:
        if name in _WATCHED:
            if seen is None:
                seen = {}
            seen[name] = value
    return seen


class Tracing:
    """Owns the tracer (and the SDK provider when spans are exported)."""

    def __init__(
        self,
        settings: TracingSettings,
        *,
        resource: Mapping[str, str] | None = None,
        exporter: SpanExporter | None = None,
    ) -> None:
        """`exporter` overrides the configured one (tests pass an in-memory exporter)."""
        self.provider: TracerProvider | None = None
        if exporter is None and settings.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        if exporter is None:
            self.tracer: trace.Tracer = trace.NoOpTracer()
            self.enabled = False
            return
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        attributes = {"service.name": settings.service_name, **(resource or {})}
        self.provider = TracerProvider(
            resource=Resource.create(attributes),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        # OTLP batches in a background thread; an explicitly given exporter (tests) is flushed per span.
        processor = (
            BatchSpanProcessor(exporter) if settings.exporter == "otlp" else SimpleSpanProcessor(exporter)
        )
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("runtime.service")
        self.enabled = True

    @staticmethod
    def extract(headers: Iterable[tuple[bytes, bytes]]) -> Context | None:
        """The remote parent from ASGI headers, or None when the request carries no trace context."""
        return Tracing.parent(watched(headers))

    @staticmethod
    def parent(seen: dict[bytes, bytes] | None) -> Context | None:
        """The remote parent from the headers `watched` found."""
        if seen is None:
            return None
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in seen.items() if k in _TRACE_HEADERS}
        return _PROPAGATOR.extract(carrier) if carrier else None

    @staticmethod
    def inject(headers: dict[str, str]) -> None:
        """Add `traceparent` (and `tracestate`) of the current span to outgoing request headers."""
        _PROPAGATOR.inject(headers)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
