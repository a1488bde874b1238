"""The render farm: queue backends, the job runner, workers, their registry and events."""
