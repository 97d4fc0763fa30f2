"""Locust load tests against the HTTP service, with a fake SMS gateway.

The gateway has the model's own parameters, so what Locust measures can be set beside
what the SimPy model predicts. Locust patches the standard library with gevent, so it
always runs as its own process; nothing in ``verifier`` or ``simulation`` imports it.
"""
