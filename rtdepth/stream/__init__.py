"""The frame path from source to sink: sources, the pipeline, visualisation, sinks, timing, depth files."""
