"""Reading a Prometheus exposition in tests: every sample by name and exact label set,
parsed by prometheus_client's own parser (label order and number formatting do not matter)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metric_samples(text: str) -> Samples:
    """Every sample of ``text``: (name, label set) -> value; a series twice is an error."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def sample(samples: Samples, metric: str, **labels: str) -> float | None:
    """The value of the series ``metric`` with exactly these labels, or None."""
    return samples.get((metric, frozenset(labels.items())))
