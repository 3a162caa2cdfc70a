"""Around the engine: the embedded broker and Redis (`embedded`), the whole system on one
machine (`runtime`, `sunlight up`), the producer (`producer`), the simulated city
(`simulator`), its evaluation (`evaluate`) and the benchmarks (`bench`)."""
