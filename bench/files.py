"""File storage throughput and memory: uploads and downloads through the API beside the raw
backend, and the server's peak RSS during concurrent large uploads.

    .venv/bin/python bench/files.py [--backend local|s3|both] [--size-mb 20] [--runs 5]
        [--concurrent 10] [--concurrent-mb 50] [--json OUT]

For each backend it starts ``focushub serve`` (one process, embedded PostgreSQL in a
temporary data dir; for S3 a moto server on loopback as the store), then:

* upload: ``--runs`` sequential uploads of a ``--size-mb`` MB text file through
  ``POST /api/v1/resources`` (httpx streams the multipart body from disk), against the
  raw backend writing the same bytes (local: a file copy on the same disk; S3: boto3
  ``upload_file`` to the same moto server);
* download: ``GET …/file`` of that resource, against the raw read (local: reading the
  file; S3: boto3 ``get_object``);
* memory: the server's RSS (psutil, sampled every 20 ms) before and during
  ``--concurrent`` simultaneous uploads of ``--concurrent-mb`` MB each.

Throughput is MB/s of payload (median of the runs). The client runs on the same two
cores as the server, so both sides of each pair pay for it alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_text_file(path: Path, size: int) -> None:
    line = b"The mitochondria is the powerhouse of the cell; notes for week 7.\n"
    with path.open("wb") as out:
        written = 0
        while written < size:
            chunk = line * min(16384, (size - written) // len(line) + 1)
            chunk = chunk[: size - written]
            out.write(chunk)
            written += len(chunk)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def server_pid(serve: subprocess.Popen) -> int:
    """The uvicorn process: ``focushub serve`` runs it in-process (one worker)."""
    return serve.pid


async def upload(client: httpx.AsyncClient, headers: dict, path: Path, title: str) -> dict:
    with path.open("rb") as handle:
        r = await client.post("/api/v1/resources", headers=headers, data={"title": title},
                              files={"file": (path.name, handle, "text/plain")}, timeout=300)
    r.raise_for_status()
    return r.json()


async def run_backend(backend: str, args: argparse.Namespace, work: Path) -> dict:
    data_dir = work / f"data-{backend}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    env.update(FOCUSHUB_DATA_DIR=str(data_dir), FOCUSHUB_LOG_LEVEL="WARNING",
               FOCUSHUB_MAX_UPLOAD_BYTES=str(max(args.size_mb, args.concurrent_mb) * MB + MB),
               FOCUSHUB_STORAGE_QUOTA_BYTES=str(100 * 1024 * MB),
               FOCUSHUB_WRITE_LIMITS_ENABLED="false")
    moto = None
    s3 = None
    if backend == "s3":
        moto_port = free_port()
        moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(moto_port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{moto_port}"
        wait_http(endpoint, moto)
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
        s3.create_bucket(Bucket="bench")
        env.update(FOCUSHUB_STORAGE_URL="s3://bench", FOCUSHUB_S3_ENDPOINT_URL=endpoint,
                   FOCUSHUB_S3_REGION="us-east-1", FOCUSHUB_S3_ACCESS_KEY_ID="bench",
                   FOCUSHUB_S3_SECRET_ACCESS_KEY="bench")
    serve = subprocess.Popen([str(ROOT / ".venv/bin/focushub"), "serve", "--port", str(port)],
                             cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    result: dict = {"backend": backend, "size_mb": args.size_mb}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", serve)
        src = work / "payload.txt"
        make_text_file(src, args.size_mb * MB)
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.post("/api/v1/auth/signup", json={
                "email": f"bench-{backend}@example.org", "password": "correct horse battery",
                "full_name": "Bench", "username": f"bench_{backend}"})
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

            api_up, raw_up, api_down, raw_down = [], [], [], []
            resource = None
            for i in range(args.runs):
                t = time.perf_counter()
                resource = await upload(client, headers, src, f"run {i}")
                api_up.append(args.size_mb / (time.perf_counter() - t))
                t = time.perf_counter()
                if s3 is not None:
                    await asyncio.to_thread(s3.upload_file, str(src), "bench", f"raw/{i}")
                else:
                    await asyncio.to_thread(shutil.copyfile, src, data_dir / f"raw-{i}")
                raw_up.append(args.size_mb / (time.perf_counter() - t))
            assert resource is not None
            for _ in range(args.runs):
                t = time.perf_counter()
                size = 0
                async with client.stream("GET", resource["file"]["url"], headers=headers,
                                         timeout=300) as response:
                    async for chunk in response.aiter_raw():
                        size += len(chunk)
                assert size == args.size_mb * MB
                api_down.append(args.size_mb / (time.perf_counter() - t))
                t = time.perf_counter()
                if s3 is not None:
                    body = await asyncio.to_thread(
                        lambda: s3.get_object(Bucket="bench", Key="raw/0")["Body"])
                    while await asyncio.to_thread(body.read, 1024 * 1024):
                        pass
                else:
                    with (data_dir / "raw-0").open("rb") as handle:
                        while handle.read(1024 * 1024):
                            pass
                raw_down.append(args.size_mb / (time.perf_counter() - t))
            result.update(
                upload_api_mb_s=round(statistics.median(api_up), 1),
                upload_raw_mb_s=round(statistics.median(raw_up), 1),
                download_api_mb_s=round(statistics.median(api_down), 1),
                download_raw_mb_s=round(statistics.median(raw_down), 1),
            )

            big = work / "big.txt"
            make_text_file(big, args.concurrent_mb * MB)
            pid = server_pid(serve)
            await asyncio.sleep(1)
            before = psutil.Process(pid).memory_info().rss
            with RssSampler(pid) as sampler:
                await asyncio.gather(*[upload(client, headers, big, f"big {i}")
                                       for i in range(args.concurrent)])
            result.update(
                concurrent_uploads=args.concurrent, concurrent_mb=args.concurrent_mb,
                rss_before_mib=round(before / MB, 1), rss_peak_mib=round(sampler.peak / MB, 1),
                rss_growth_mib=round((sampler.peak - before) / MB, 1),
            )
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        if moto is not None:
            moto.terminate()
            moto.wait(10)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["local", "s3", "both"], default="both")
    ap.add_argument("--size-mb", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrent", type=int, default=10)
    ap.add_argument("--concurrent-mb", type=int, default=50)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    backends = ["local", "s3"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="focushub-bench-files-") as folder:
        for backend in backends:
            results.append(asyncio.run(run_backend(backend, args, Path(folder))))
            print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime()),
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
