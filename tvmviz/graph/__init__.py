"""Model graphs as the graph tuner sees them (see model.py), and their importers."""

from tvmviz.graph.model import ConvAttrs, LayoutGraph, Node

__all__ = ["ConvAttrs", "LayoutGraph", "Node"]
