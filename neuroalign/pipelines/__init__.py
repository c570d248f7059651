"""Whole studies: configuration in, scores and reports out."""

from .demo import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
