"""The StreamGate CrossGuard policy pack: policies grouped by concern, the pack (`pack`), the engine's entry
point (`__main__`), and the offline runner over `infra.plan` plans (`offline`)."""
