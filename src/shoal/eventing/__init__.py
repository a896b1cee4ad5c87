"""The eventing data plane: CloudEvents, broker ingress, the durable log, dispatch, delivery."""
