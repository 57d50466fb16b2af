"""Scrape a Prometheus endpoint during a bench and read figures out of it (issue 21).

"Metrics scraped during ``bench/ingest.py`` and the gate soak show the figures those benches print":
the benches scrape the cloud's ``/metrics`` and the agent's endpoint before and after a phase, and
print what the scrape says beside their own figure with a check that the two agree. This module is
the scrape (``prometheus_client``'s own text parser, no second parser), the difference of two
scrapes, and quantiles of a histogram's buckets the way Prometheus' ``histogram_quantile`` reads
them (linear inside the bucket; the bucket's bounds are returned too, for a check that tolerates the
bucket width).
"""

from __future__ import annotations

import math
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

__all__ = [
    "Quantile",
    "Scrape",
    "delta",
    "histogram_quantile",
    "labels_of",
    "parse",
    "scrape",
    "scrape_registry",
    "total",
    "wait_for",
]

#: (sample name, sorted label pairs) → value.
Scrape: TypeAlias = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Scrape:
    """Samples of a text exposition (``/metrics`` body)."""
    out: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


def scrape(url: str, *, token: str | None = None, timeout_s: float = 5.0) -> Scrape:
    """GET ``url`` (a ``/metrics`` endpoint) and parse the text exposition format."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        return parse(answer.read().decode("utf-8"))


def scrape_registry(registry: CollectorRegistry) -> Scrape:
    """The same for a registry of this process (an in-process agent)."""
    from prometheus_client import generate_latest  # noqa: PLC0415

    return parse(generate_latest(registry).decode("utf-8"))


def total(samples: Scrape, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def delta(before: Scrape, after: Scrape) -> Scrape:
    """``after - before`` for every sample of ``after`` (counters and histogram buckets of one process)."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


@dataclass(frozen=True)
class Quantile:
    """A quantile read from histogram buckets: the interpolated value and its bucket's bounds (seconds)."""

    value: float
    low: float
    high: float
    count: float

    def ms(self) -> str:
        """``value ms [low–high]`` for a report."""
        return f"{1000 * self.value:.1f} ms [{1000 * self.low:g}–{1000 * self.high:g}]"


def histogram_quantile(samples: Scrape, name: str, q: float, **labels: str) -> Quantile:
    """The q-quantile (0..1) of histogram ``name`` (its ``_bucket`` samples, summed over other labels)."""
    buckets: dict[float, float] = {}
    want = set(labels.items())
    for (sample, ls), value in samples.items():
        if sample != f"{name}_bucket" or not want <= set(ls):
            continue
        le = dict(ls)["le"]
        bound = math.inf if le == "+Inf" else float(le)
        buckets[bound] = buckets.get(bound, 0.0) + value
    bounds = sorted(buckets)
    count = buckets.get(math.inf, 0.0)
    if not count:
        return Quantile(math.nan, math.nan, math.nan, 0.0)
    rank = q * count
    low, below = 0.0, 0.0
    for bound in bounds:
        cumulative = buckets[bound]
        if cumulative >= rank:
            if math.isinf(bound):  # as Prometheus: the highest finite bound
                return Quantile(low, low, math.inf, count)
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return Quantile(low + (bound - low) * share, low, bound, count)
        low, below = bound, cumulative
    return Quantile(low, low, math.inf, count)


def wait_for(read: Callable[[], Scrape], done: Callable[[Scrape], bool], limit_s: float = 5.0) -> Scrape:
    """Scrape until ``done`` holds (a figure is recorded just after the ack it measures) or ``limit_s`` passed."""
    deadline = time.monotonic() + limit_s
    samples = read()
    while not done(samples) and time.monotonic() < deadline:
        time.sleep(0.05)
        samples = read()
    return samples


def labels_of(samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> list[dict[str, str]]:
    """The label sets of the samples called ``name``."""
    return [dict(ls) for (n, ls) in samples if n == name]
