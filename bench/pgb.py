"""pgbench: the database's limit for the exact SQL of an endpoint.

One script per variant: ``BEGIN``, the captured statements in order (the
role/claims ``set_config`` first), ``COMMIT``. Parameters stay parameters:
``$n`` becomes a pgbench variable defined with ``-D`` and pgbench runs in
``-M prepared`` mode, so the server sees prepared statements with untyped
parameters, as with asyncpg. (A NULL cannot be a pgbench variable; it is
written inline as ``NULL``.) pgbench picks a script at random for each
transaction, as the HTTP load generator picks a variant.
"""

from __future__ import annotations

import re
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

from workload import decode_param

_PARAM = re.compile(r"\$(\d+)")
_LIMIT_SCRIPTS = 128  # pgbench's own limit on -f scripts


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return "{" + ",".join('"' + str(_text(x)).replace('"', '\\"') + '"' for x in value) + "}"
    return str(value)


def write_scripts(name: str, variants: list[dict[str, Any]], folder: Path) -> tuple[list[Path], list[str]]:
    """Write the scripts of one endpoint; return them and the ``-D`` definitions."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    defines: list[str] = []
    for k, v in enumerate(variants[:_LIMIT_SCRIPTS]):
        lines = ["BEGIN;"]
        for j, (sql, params) in enumerate(v["statements"]):
            values = [decode_param(p) for p in params]

            def sub(m: re.Match[str], k: int = k, j: int = j, values: list[Any] = values) -> str:
                idx = int(m.group(1)) - 1
                if values[idx] is None:
                    return "NULL"
                return f":{name}_{k}_{j}_{idx}"

            text = _PARAM.sub(sub, sql.strip().rstrip(";"))
            for idx, value in enumerate(values):
                if value is not None:
                    defines.append(f"{name}_{k}_{j}_{idx}={_text(value)}")
            # pgbench ends a command at a semicolon, not at a newline.
            lines.append(text + ";")
        lines.append("COMMIT;")
        path = folder / f"{name}_{k}.sql"
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    return files, defines


def run(bin_dir: Path, conninfo: dict[str, str], files: list[Path], defines: list[str],
        clients: int, seconds: float, log_dir: Path) -> dict[str, Any]:
    """Run pgbench; return tps, latency percentiles (ms) and failures."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("pgb*"):
        old.unlink()
    cmd = [str(bin_dir / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
           "-j", str(min(clients, 2)), "-T", str(int(seconds)), "-l",
           f"--log-prefix={log_dir / 'pgb'}", "-h", conninfo["host"], "-p", conninfo["port"],
           "-U", conninfo["user"], conninfo["dbname"]]
    for f in files:
        cmd += ["-f", f"{f}@1"]
    for d in defines:
        cmd += ["-D", d]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    out = proc.stdout + proc.stderr
    latencies: list[float] = []
    failed = 0
    for log in log_dir.glob("pgb*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                if parts[2] in ("failed", "skipped"):
                    failed += 1
                else:
                    latencies.append(int(parts[2]) / 1000.0)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    m = re.search(r"number of failed transactions: (\d+)", out)
    if m:
        failed = max(failed, int(m.group(1)))
    aborted = len(re.findall(r"client \d+ aborted", out))
    return {
        "rps": float(tps.group(1)) if tps else 0.0,
        "count": len(latencies),
        "errors": failed + aborted,
        "error_detail": (out[-600:] if (proc.returncode or aborted) else ""),
        **percentiles(latencies),
    }


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50": None, "p95": None, "p99": None}
    s = sorted(latencies)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}
