"""The live system: the Faust app (`app`), the engine it drives (`engine`), one partition's
engine (`partition`), the broadcast feeds (`feeds`), checkpoints (`checkpoint`,
`state_codec`) and the recovery check (`recovery`)."""
