"""The API leg of `make demo`: serve the champion, ask for an explained prediction and a small batch, stop."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from churn.offline import read_snapshots, snapshot_months
from churn.settings import get_settings
from harness.process import serving


def _post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def demo() -> None:
    """Serve the champion, ask for one explained prediction and a small batch, print them, stop."""
    settings = get_settings()
    months = snapshot_months(settings.snapshots_dir)
    ids = [str(i) for i in read_snapshots(settings.snapshots_dir, [months[-1]]).customer_id.head(5)]
    key = (settings.api_keys.get_secret_value().split(",")[0].strip() if settings.api_keys else "") or None
    headers = {"X-API-Key": key} if key else {}
    log = settings.home_dir / "logs" / "demo-serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with serving(dict(os.environ), log) as (url, _):
        status, one = _post(url + "/predict_churn", {"customer_id": ids[0], "explain": True}, headers)
        print(f"POST {url}/predict_churn -> {status}\n{json.dumps(one, indent=1)}")
        status, many = _post(url + "/predict_churn/batch", {"customer_ids": [*ids, "no-such-customer"]}, headers)
        print(f"POST {url}/predict_churn/batch -> {status}: {many['found']} found, {many['not_found']} not found")
        if status != 200:
            raise SystemExit(f"the service answered {status}; see {log}")
    print(f"service stopped; its log is at {log}")


if __name__ == "__main__":
    demo()
