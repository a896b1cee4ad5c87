"""Label and annotation keys of Knative Serving, and the names of its config maps' keys.

Shared by the serving kinds' defaulting and validation, and by the controllers, the runtime
and the data plane that read or stamp these keys on objects.
"""

from __future__ import annotations

GROUP = "serving.knative.dev"
GROUP_PREFIX = GROUP + "/"
AUTOSCALING_GROUP = "autoscaling.knative.dev"

# Annotations Serving stamps on user-facing objects.
CREATOR = GROUP + "/creator"
LAST_MODIFIER = GROUP + "/lastModifier"
ROUTES = GROUP + "/routes"
ROUTING_STATE_MODIFIED = GROUP + "/routingStateModified"
PROGRESS_DEADLINE = GROUP + "/progress-deadline"
ROLLOUT_DURATION = GROUP + "/rollout-duration"
QUEUE_SIDECAR_RESOURCE_PERCENTAGE = "queue.sidecar.serving.knative.dev/resource-percentage"

# Labels Serving puts on the objects it creates.
SERVICE_LABEL = GROUP + "/service"
SERVICE_UID_LABEL = GROUP + "/serviceUID"
CONFIGURATION_LABEL = GROUP + "/configuration"
CONFIGURATION_UID_LABEL = GROUP + "/configurationUID"
CONFIGURATION_GENERATION_LABEL = GROUP + "/configurationGeneration"
ROUTE_LABEL = GROUP + "/route"
REVISION_LABEL = GROUP + "/revision"
ROUTING_STATE_LABEL = GROUP + "/routingState"

# Visibility of a Service or Route: only reachable on the machine's local network names.
VISIBILITY_LABEL = "networking.knative.dev/visibility"
VISIBILITY_CLUSTER_LOCAL = "cluster-local"
