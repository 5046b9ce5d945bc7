"""The deployment files: the HAProxy configuration is what `antiphon cluster` renders and HAProxy
accepts it; the Kubernetes manifest passes the Kubernetes schemas; the Prometheus scrape
configuration names each replica's metrics path through the balancer."""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from antiphon.cluster import render

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_shipped_haproxy_config_is_the_rendered_template():
    assert (DEPLOY / "haproxy.cfg").read_text() == render("127.0.0.1", 8765, 8404, [8801, 8802], 8799)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_config():
    done = subprocess.run(["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_kubernetes_manifest_passes_the_schemas():
    import kubernetes_validate

    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37", strict=True)
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert docs[1]["spec"]["sessionAffinity"] == "ClientIP"


def test_prometheus_scrapes_each_replica_through_the_balancer():
    jobs = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    assert [j["metrics_path"] for j in jobs] == ["/replicas/0/metrics", "/replicas/1/metrics"]
