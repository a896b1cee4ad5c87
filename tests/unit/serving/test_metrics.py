"""The /metrics text: Knative's metric names, per revision, from the live figures."""

from __future__ import annotations

from shoal.serving.activator import Activator
from shoal.serving.autoscaler import Autoscaler
from shoal.serving.kpa import DeciderSpec, ScaleBounds
from shoal.serving.metrics import render


class _Waiter:
    def granted(self, address: str) -> None:
        pass


def test_render_shows_requests_queue_scale_and_panic() -> None:
    now = [0.0]
    activator = Activator(lambda: now[0])
    autoscaler = Autoscaler(activator)
    autoscaler.update("default/a-00001", DeciderSpec(target=1.0), ScaleBounds(), ready=1,
                      progress_deadline=600)
    backend = activator.backend("default/a-00001")
    backend.configure(1, backend.timeouts)
    backend.set_endpoints(["127.0.0.1:1"])
    assert backend.acquire(_Waiter(), 0.0) == "127.0.0.1:1"
    backend.acquire(_Waiter(), 0.0)  # held: the instance is full, and a burst starts panic
    backend.release("127.0.0.1:1", 0.02, 200, 0.02)

    labels = '{namespace_name="default",revision_name="a-00001"}'
    text = render(activator, autoscaler)
    assert ('revision_request_count{namespace_name="default",revision_name="a-00001",'
            'response_code="200",response_code_class="2xx"} 1') in text
    assert f'revision_request_latencies_bucket{labels[:-1]},le="0.025"}} 1' in text
    assert f"activator_queue_depth{labels} 0" in text  # the held one took the freed slot
    assert f"activator_request_concurrency{labels} 1" in text
    assert f"autoscaler_requested_pods{labels} 2" in text
    assert f"autoscaler_panic_mode{labels} 1" in text
    assert "# TYPE revision_request_latencies histogram" in text
