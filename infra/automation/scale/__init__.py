"""Predictive scaling: forecast each region's demand from its own Prometheus and raise the gateway's
capacity floor ahead of it (AWS EC2 predictive scaling's rules: daily and weekly patterns learnt from weeks
of history, hourly forecasts 48 h ahead, capacity launched ahead by the start-up time, never a scale-in on a
forecast alone).

`history` reads the request rate (and CPU per pod) per region; `forecasting` repairs it, backtests the
models from rolling origins, picks one per region and calibrates its prediction interval; `capacity` turns
demand into replicas; `decide` says what the floor should be now (pure); `cli` is `streamgate scale`.
`synthetic` generates seasonal traffic history for backtests and replays (loaded into a real Prometheus
with promtool).
"""
