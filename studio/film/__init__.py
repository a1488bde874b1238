"""The film craft: script breakdown, video I/O and film assembly."""
