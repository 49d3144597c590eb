"""Benchmark reports in the shape DESIGN.md fixes:
{"benchmark", "machine", "settings", "results": [{"name", "unit", "value"}]}."""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import orjson


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for pkg in ("ordex", "Cython", "numpy", "uvloop", "pyarrow"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
    }


def percentiles_ns(samples_ns: np.ndarray) -> dict[str, float]:
    """p50/p99/p999/max of a latency sample in nanoseconds."""
    s = np.asarray(samples_ns, dtype=np.float64)
    p50, p99, p999 = np.percentile(s, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p999": float(p999), "max": float(s.max())}


@dataclass
class Report:
    benchmark: str
    settings: dict = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)

    def add(self, name: str, unit: str, value: float) -> None:
        self.results.append({"name": name, "unit": unit, "value": float(value)})

    def add_latency(self, prefix: str, samples_ns: np.ndarray, unit: str = "ns") -> None:
        scale = 1000.0 if unit == "us" else 1.0
        for metric, v in percentiles_ns(samples_ns).items():
            self.add(f"{prefix}.{metric}", unit, v / scale)

    def get(self, name: str) -> float:
        for r in self.results:
            if r["name"] == name:
                return r["value"]
        raise KeyError(name)

    def as_dict(self) -> dict:
        return {"benchmark": self.benchmark, "machine": machine(), "settings": self.settings,
                "results": self.results}

    def write_json(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2))

    def table(self) -> str:
        width = max([len(r["name"]) for r in self.results] + [10])
        lines = [f"ordex perf {self.benchmark}"]
        lines += [f"  {k}: {v}" for k, v in self.settings.items()]
        lines.append(f"  {'result'.ljust(width)}  {'value':>16}  unit")
        for r in self.results:
            v = r["value"]
            text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3f}"
            lines.append(f"  {r['name'].ljust(width)}  {text:>16}  {r['unit']}")
        return "\n".join(lines)
