"""Benchmarks: latency harness, FLOP counts, image quality, and reports (JSON, Markdown, HTML)."""

from fastip.benchmarks.latency import Budget, measure, summarize
from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult, LatencyStats, OperatorTiming

__all__ = ["BenchmarkReport", "BenchmarkResult", "Budget", "LatencyStats", "OperatorTiming", "measure", "summarize"]
