"""Segments, routing, pipelines and stages, nurture queues, assignment and exports."""
