"""`sunlight bench` (`suite`) and its sections: `replay`, `places`, `funds`, `state`; the
control-room benchmark runs on its own (`python -m streams.tools.bench.control`)."""
